package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.EXPERTS;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.assertAllRowsBack;
import static dev.moemesh.attention.experts.EchoBatches.batch;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.attention.experts.StandInExpertService.Behaviour;
import dev.moemesh.core.moe.ExpertOutage;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RemoteExperts} over real gRPC streams to stand-in expert services on loopback, when some experts of a layer's
 * call have no live replica ({@link HealingCall}): the call computes every other expert and names the missing ones in
 * an {@link ExpertsUnservedException}, whose {@link ExpertOutage} says when the rows routed to them are worth trying
 * again (a newer placement, or a holder that may be back) and what they end with past
 * {@code attention.expert-heal-timeout}. The engine's side of it (setting the sequences aside) is {@code SetAsideTest}
 * in core; the whole of it with real processes is {@code ExpertHealTest} in integration-tests.
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

    private static Placement both(long version, StandInExpertService low, StandInExpertService high) {
        return published(version, low, 0, 1).toBuilder()
                .addAllExperts(published(version, high, 2, EXPERTS - 1).getExpertsList()).build();
    }

    private void healWithin(Duration timeout, Duration retryEvery) {
        experts.healWith(new RemoteExperts.Healing(timeout, retryEvery, true));
        experts.whenHealEnds((healed, waitedNanos) -> heals.add(healed ? "healed" : "timed out"));
    }

    private ExpertsUnservedException unserved(RoutedBatch batch) {
        return assertThrows(ExpertsUnservedException.class, () -> experts.run(batch));
    }

    /** Rows of groups {@code from..to} of the echo batch came back; the others are not checked. */
    private static void assertGroupsBack(RoutedBatch batch, int from, int to) {
        int hidden = batch.hidden();
        int a = batch.groupStart()[from] * hidden;
        int b = batch.groupStart()[to + 1] * hidden;
        assertArrayEquals(Arrays.copyOfRange(batch.input(), a, b), Arrays.copyOfRange(batch.output(), a, b),
                "groups " + from + ".." + to + " back in their places");
    }

    @Test
    void theOnlyHolderOfSomeExpertsDeadTheCallComputesTheOthersAndNamesTheMissingOnesWithAnOutage() {
        healWithin(Duration.ofSeconds(30), Duration.ofSeconds(30));
        StandInExpertService dying = standIn();
        StandInExpertService alive = standIn();
        StandInExpertService survivor = standIn();
        experts.usePlacement(both(1, dying, alive));
        dying.behaviour = Behaviour.BREAK;

        RoutedBatch batch = batch();
        ExpertsUnservedException e = unserved(batch);
        assertArrayEquals(new int[] {0, 1}, e.experts(), "the dead service's experts");
        assertEquals(LAYER, e.layer());
        assertTrue(e.getMessage().matches("layer 1 expert 0 has no replica left to try: expert service "
                + dying.address() + " failed on layer 1: UNAVAILABLE.*"), e.getMessage());
        assertGroupsBack(batch, 2, 3);
        ExpertOutage outage = e.outage();
        assertNotNull(outage, "a control plane may place them again: their rows may wait");
        assertEquals(Duration.ofSeconds(30), outage.timeout());
        assertFalse(outage.worthRetrying(), "nothing changed yet");

        experts.usePlacement(published(2, survivor, 0, EXPERTS - 1));
        assertTrue(outage.worthRetrying(), "a newer placement is worth trying");
        assertAllRowsBack(runAgain());
        outage.healed(5_000_000);
        assertEquals(List.of("healed"), heals);
    }

    private RoutedBatch runAgain() {
        RoutedBatch batch = batch();
        experts.run(batch);
        return batch;
    }

    @Test
    void anExpertAPlacementGivesToNoServiceIsNamedUnservedAndTheOthersComputed() {
        healWithin(Duration.ofSeconds(30), Duration.ofSeconds(30));
        StandInExpertService low = standIn();
        StandInExpertService high = standIn();
        experts.usePlacement(published(1, low, 0, 1));

        RoutedBatch batch = batch();
        ExpertsUnservedException e = unserved(batch);
        assertArrayEquals(new int[] {2, 3}, e.experts());
        assertEquals("layer 1 expert 2 is held by no expert service (placement version 1)", e.getMessage());
        assertGroupsBack(batch, 0, 1);
        assertNotNull(e.outage(), "a control plane places experts: the next placement may serve them");
        assertEquals(0, high.requests.get());

        experts.usePlacement(both(2, low, high));
        assertTrue(e.outage().worthRetrying());
        assertAllRowsBack(runAgain());
    }

    @Test
    void aHolderBackAtItsAddressIsWorthTryingAfterTheRetryIntervalWithoutANewPlacement() throws Exception {
        healWithin(Duration.ofSeconds(30), Duration.ofMillis(200));
        StandInExpertService flaky = standIn();
        experts.usePlacement(published(1, flaky, 0, EXPERTS - 1));
        flaky.behaviour = Behaviour.BREAK;

        ExpertOutage outage = unserved(batch()).outage();
        assertFalse(outage.worthRetrying());
        Thread.sleep(250);
        assertTrue(outage.worthRetrying(), "every retry interval, in case a holder is back");
        flaky.behaviour = Behaviour.ECHO;
        assertAllRowsBack(runAgain());
    }

    @Test
    void pastTheHealTimeoutTheErrorSaysSoAndCallsUnderThatPlacementDoNotWaitAgainUntilSomethingChanges() {
        healWithin(Duration.ofMillis(600), Duration.ofMillis(100));
        StandInExpertService dead = standIn();
        experts.usePlacement(published(1, dead, 0, EXPERTS - 1));
        dead.behaviour = Behaviour.BREAK;

        ExpertsUnservedException first = unserved(batch());
        String error = first.outage().gaveUp(600_000_000L);
        assertTrue(error.matches("layer 1 expert \\d has no replica left to try: expert service " + dead.address()
                + " failed on layer 1: UNAVAILABLE.*; no placement served it within 600 ms"
                + " \\(attention.expert-heal-timeout\\)"), error);
        assertEquals(List.of("timed out"), heals);

        // under the same placement, the rows end at once: no second wait
        ExpertsUnservedException later = unserved(batch());
        assertNull(later.outage());
        assertTrue(later.getMessage().endsWith("; not waiting: a heal under placement version 1 timed out, and no"
                + " newer placement has come"), later.getMessage());

        // the service answers again (its breaker closes): under the same placement, waiting may pay off again
        dead.behaviour = Behaviour.ECHO;
        assertAllRowsBack(runAgain());
        dead.behaviour = Behaviour.BREAK;
        assertNotNull(unserved(batch()).outage(), "it may wait again");

        // after another timeout, a newer placement (still without a live holder) is worth waiting for again
        unserved(batch()).outage().gaveUp(600_000_000L);
        assertNull(unserved(batch()).outage());
        experts.usePlacement(published(2, dead, 0, EXPERTS - 1));
        assertNotNull(unserved(batch()).outage());
    }

    @Test
    void aZeroHealTimeoutEndsTheRowsAtOnce() {
        healWithin(Duration.ZERO, Duration.ofMillis(100));
        StandInExpertService dead = standIn();
        experts.usePlacement(published(1, dead, 0, EXPERTS - 1));
        dead.behaviour = Behaviour.BREAK;
        ExpertsUnservedException e = unserved(batch());
        assertNull(e.outage());
        assertTrue(e.getMessage().matches("layer 1 expert \\d has no replica left to try: .*UNAVAILABLE.*"),
                e.getMessage());
        assertTrue(!e.getMessage().contains("heal"), e.getMessage());
        assertEquals(1, dead.requests.get(), "not sent again");
        assertEquals(List.of(), heals);
    }

    @Test
    void beforeAnyPlacementTheRowsEndAtOnceEvenWhenTheyMayHeal() {
        healWithin(Duration.ofSeconds(30), Duration.ofMillis(100));
        ExpertsUnservedException e = unserved(batch());
        assertEquals("layer 1 expert 0 is held by no expert service (nothing is placed yet)", e.getMessage());
        assertArrayEquals(new int[] {0, 1, 2, 3}, e.experts());
        assertNull(e.outage(), "the service is not ready: nothing was ever placed");
    }

    @Test
    void withoutAControlPlaneAnExpertNoConfiguredServiceHoldsEndsItsRowsAtOnce() {
        experts.healWith(new RemoteExperts.Healing(Duration.ofSeconds(30), Duration.ofMillis(100), false));
        StandInExpertService low = standIn();
        experts.usePlacement(published(1, low, 0, 1));
        RoutedBatch batch = batch();
        ExpertsUnservedException e = unserved(batch);
        assertNull(e.outage(), "a fixed list of services never places it");
        assertGroupsBack(batch, 0, 1);
    }
}
