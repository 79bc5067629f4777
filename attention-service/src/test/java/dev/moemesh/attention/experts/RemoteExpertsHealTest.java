package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.EXPERTS;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.assertAllRowsBack;
import static dev.moemesh.attention.experts.EchoBatches.batch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.attention.experts.StandInExpertService.Behaviour;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RemoteExperts} healing a layer's call whose expert has no live replica ({@link HealingCall}), over real gRPC
 * streams to stand-in expert services on loopback: the call waits for a placement that serves the expert and its rows
 * come back as if nothing had happened; past {@code attention.expert-heal-timeout} it fails with the error it fails
 * with at once when healing is off.
 */
class RemoteExpertsHealTest {
    private static final String MODEL = "0123456789abcdef";

    private final List<StandInExpertService> standIns = new ArrayList<>();
    private final RemoteExperts experts = new RemoteExperts(CONFIG, List.of(), PlacementTable.none(CONFIG), MODEL,
            Duration.ofSeconds(10), Duration.ofSeconds(30));
    private final List<String> heals = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() {
        experts.close();
        standIns.forEach(StandInExpertService::close);
    }

    private StandInExpertService standIn() {
        StandInExpertService s = new StandInExpertService();
        standIns.add(s);
        return s;
    }

    /** Experts {@code from..to} of {@link EchoBatches#LAYER} on {@code service}, as a control plane sends it. */
    private static Placement published(long version, StandInExpertService service, int from, int to) {
        Placement.Builder p = Placement.newBuilder().setVersion(version).setModelFingerprint(MODEL);
        for (int e = from; e <= to; e++) {
            p.addExpertsBuilder().setLayer(LAYER).setExpert(e)
                    .addReplicas(Replica.newBuilder().setAddress(service.address()).setWeight(1.0));
        }
        return p.build();
    }

    private void healWithin(Duration timeout, Duration retryEvery) {
        experts.healWith(new RemoteExperts.Healing(timeout, retryEvery, true));
        experts.whenHealEnds((healed, rows, waitedNanos) -> heals.add(healed + " " + rows));
    }

    private static CompletableFuture<RoutedBatch> runAsync(RemoteExperts experts) {
        return CompletableFuture.supplyAsync(() -> {
            RoutedBatch batch = batch();
            experts.run(batch);
            return batch;
        });
    }

    @Test
    void aCallWhoseOnlyReplicaDiedWaitsForAPlacementThatServesItThenItsRowsComeBack() throws Exception {
        healWithin(Duration.ofSeconds(30), Duration.ofSeconds(30));
        StandInExpertService dying = standIn();
        StandInExpertService survivor = standIn();
        experts.usePlacement(published(1, dying, 0, EXPERTS - 1));
        dying.behaviour = Behaviour.BREAK;

        long started = System.nanoTime();
        CompletableFuture<RoutedBatch> call = runAsync(experts);
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (experts.healsWaiting() == 0 && System.nanoTime() < giveUp) Thread.sleep(5);
        assertEquals(1, experts.healsWaiting(), "the call waits for a placement, not failing the step");
        Thread.sleep(300);
        assertTrue(!call.isDone(), "still waiting while no placement serves the experts");

        experts.usePlacement(published(2, survivor, 0, EXPERTS - 1));
        RoutedBatch batch = call.get(5, TimeUnit.SECONDS);
        assertAllRowsBack(batch);
        assertTrue((System.nanoTime() - started) / 1_000_000 >= 300, "it waited for the placement");
        assertEquals(1, survivor.requests.get(), "sent again, whole, to the service the new placement names");
        assertEquals(0, experts.healsWaiting());
        assertEquals(List.of("true 1"), heals, "one heal, of the batch's one token row");
    }

    @Test
    void anExpertANewPlacementGivesToNoServiceWaitsForTheNextThatDoes() throws Exception {
        healWithin(Duration.ofSeconds(30), Duration.ofSeconds(30));
        StandInExpertService low = standIn();
        StandInExpertService high = standIn();
        experts.usePlacement(published(1, low, 0, 1));
        Placement.Builder both = published(2, low, 0, 1).toBuilder();
        both.addAllExperts(published(2, high, 2, EXPERTS - 1).getExpertsList());

        CompletableFuture<RoutedBatch> call = runAsync(experts);
        Thread.sleep(300);
        assertTrue(!call.isDone(), "experts 2 and 3 are held by no service yet");
        experts.usePlacement(both.build());
        assertAllRowsBack(call.get(5, TimeUnit.SECONDS));
        assertEquals(List.of("true 1"), heals);
    }

    @Test
    void aHolderBackAtItsAddressHealsTheCallWithoutANewPlacement() throws Exception {
        healWithin(Duration.ofSeconds(30), Duration.ofMillis(100));
        StandInExpertService flaky = standIn();
        experts.usePlacement(published(1, flaky, 0, EXPERTS - 1));
        flaky.behaviour = Behaviour.BREAK;

        CompletableFuture<RoutedBatch> call = runAsync(experts);
        Thread.sleep(400);
        assertTrue(!call.isDone());
        flaky.behaviour = Behaviour.ECHO;
        assertAllRowsBack(call.get(5, TimeUnit.SECONDS));
        assertEquals(List.of("true 1"), heals);
    }

    @Test
    void pastTheHealTimeoutTheCallFailsWithTheErrorOfTodayAndSaysHowLongItWaited() {
        healWithin(Duration.ofMillis(600), Duration.ofMillis(100));
        StandInExpertService dead = standIn();
        experts.usePlacement(published(1, dead, 0, EXPERTS - 1));
        dead.behaviour = Behaviour.BREAK;

        long started = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch()));
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertTrue(e.getMessage().matches("layer 1 expert \\d has no replica left to try: expert service "
                + dead.address() + " failed on layer 1: UNAVAILABLE.*; no placement served it within 600 ms"
                + " \\(attention.expert-heal-timeout\\)"), e.getMessage());
        assertTrue(tookMs >= 600, "the call waited the heal timeout first: " + tookMs + " ms");
        assertTrue(dead.requests.get() >= 3, "sent again while waiting: " + dead.requests.get());
        assertEquals(List.of("false 1"), heals);
        assertEquals(0, experts.healsWaiting());
    }

    @Test
    void afterAHealTimedOutCallsUnderThatPlacementFailAtOnceUntilAServiceAnswersAgainOrANewPlacementComes() throws Exception {
        healWithin(Duration.ofMillis(1_000), Duration.ofMillis(100));
        StandInExpertService dead = standIn();
        experts.usePlacement(published(1, dead, 0, EXPERTS - 1));
        dead.behaviour = Behaviour.BREAK;
        assertThrows(IllegalStateException.class, () -> experts.run(batch()));

        long started = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch()));
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertTrue(e.getMessage().endsWith("; not waiting: a heal under placement version 1 timed out, and no newer"
                + " placement has come"), e.getMessage());
        assertTrue(tookMs < 1_000, "no second wait under the same placement: " + tookMs + " ms");
        assertEquals(List.of("false 1"), heals, "no second heal");

        // the service answers again (its breaker closes): under the same placement, a heal may pay off again
        dead.behaviour = Behaviour.ECHO;
        assertAllRowsBack(call(experts));
        dead.behaviour = Behaviour.BREAK;
        CompletableFuture<RoutedBatch> waiting = runAsync(experts);
        Thread.sleep(200);
        assertTrue(!waiting.isDone(), "it waits again");
        dead.behaviour = Behaviour.ECHO;
        assertAllRowsBack(waiting.get(5, TimeUnit.SECONDS));
        assertEquals(List.of("false 1", "true 1"), heals);
        dead.behaviour = Behaviour.BREAK;

        // a newer placement (still without a live holder) is worth waiting for again, and a later one heals
        assertThrows(IllegalStateException.class, () -> experts.run(batch())); // times out again
        StandInExpertService survivor = standIn();
        experts.usePlacement(published(2, dead, 0, EXPERTS - 1));
        CompletableFuture<RoutedBatch> healing = runAsync(experts);
        Thread.sleep(200);
        experts.usePlacement(published(3, survivor, 0, EXPERTS - 1));
        assertAllRowsBack(healing.get(5, TimeUnit.SECONDS));
        assertEquals(List.of("false 1", "true 1", "false 1", "true 1"), heals);
    }

    private static RoutedBatch call(RemoteExperts experts) {
        RoutedBatch batch = batch();
        experts.run(batch);
        return batch;
    }

    @Test
    void aZeroHealTimeoutFailsTheCallAtOnce() {
        healWithin(Duration.ZERO, Duration.ofMillis(100));
        StandInExpertService dead = standIn();
        experts.usePlacement(published(1, dead, 0, EXPERTS - 1));
        dead.behaviour = Behaviour.BREAK;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch()));
        assertTrue(e.getMessage().matches("layer 1 expert \\d has no replica left to try: .*UNAVAILABLE.*"),
                e.getMessage());
        assertTrue(!e.getMessage().contains("heal"), e.getMessage());
        assertEquals(1, dead.requests.get(), "not sent again");
        assertEquals(List.of(), heals);
    }

    @Test
    void beforeAnyPlacementACallFailsAtOnceEvenWhenItMayHeal() {
        healWithin(Duration.ofSeconds(30), Duration.ofMillis(100));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch()));
        assertEquals("layer 1 expert 0 is held by no expert service (nothing is placed yet)", e.getMessage());
        assertEquals(List.of(), heals);
    }
}
