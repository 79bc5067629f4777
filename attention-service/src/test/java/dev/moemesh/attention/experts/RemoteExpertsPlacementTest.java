package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.EXPERTS;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.assertAllRowsBack;
import static dev.moemesh.attention.experts.EchoBatches.batch;
import static dev.moemesh.attention.experts.EchoBatches.runAllRowsBack;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.attention.experts.StandInExpertService.Behaviour;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RemoteExperts} switching to the placements a control plane publishes, over real gRPC streams to stand-in
 * expert services on loopback: which services it connects to and disconnects from, which placements it refuses.
 */
class RemoteExpertsPlacementTest {
    private static final String MODEL = "0123456789abcdef";

    private final List<StandInExpertService> standIns = new ArrayList<>();
    private final RemoteExperts experts = new RemoteExperts(CONFIG, List.of(), PlacementTable
            .none(CONFIG), MODEL, Duration.ofSeconds(10), Duration.ofSeconds(30));

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

    /** Experts 0-3 of {@link EchoBatches#LAYER}, each on every one of {@code services}, as a control plane sends it. */
    private static Placement published(long version, String model, StandInExpertService... services) {
        Placement.Builder p = Placement.newBuilder().setVersion(version).setModelFingerprint(model);
        for (int e = 0; e < EXPERTS; e++) {
            ExpertReplicas.Builder r = p.addExpertsBuilder().setLayer(LAYER).setExpert(e);
            for (StandInExpertService s : services) {
                r.addReplicas(Replica.newBuilder().setAddress(s.address()).setWeight(1.0 / services.length));
            }
        }
        return p.build();
    }

    private List<String> servicesInUse() {
        return experts.services().stream().map(RemoteExperts.ServiceState::address).toList();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > giveUp) throw new AssertionError("not within 5 s: " + what);
            Thread.sleep(10);
        }
    }

    @Test
    void beforeAnyPlacementABatchFailsNamingTheExpertNoServiceHolds() {
        ExpertsUnservedException e = assertThrows(ExpertsUnservedException.class, () -> experts.run(batch()));
        assertEquals("layer 1 expert 0 is held by no expert service (nothing is placed yet)", e.getMessage());
    }

    @Test
    void aPlacementNamingANewServiceConnectsToItForTheNextBatch() {
        StandInExpertService a = standIn();
        assertTrue(experts.usePlacement(published(10, MODEL, a)));
        runAllRowsBack(experts);
        assertEquals(1, a.requests.get());

        StandInExpertService b = standIn();
        assertTrue(experts.usePlacement(published(20, MODEL, b)));
        runAllRowsBack(experts);
        assertEquals(1, b.requests.get(), "the batch went to the service the new placement names");
        assertEquals(1, a.requests.get());
        assertEquals(20, experts.placement().version());
        assertEquals(List.of(b.address()), servicesInUse());
    }

    @Test
    void aServiceNoPlacementNamesIsDisconnectedOnceTheBatchSentToItIsDone() throws Exception {
        StandInExpertService a = standIn();
        StandInExpertService b = standIn();
        experts.usePlacement(published(10, MODEL, a));
        a.behaviour = Behaviour.HOLD;
        RoutedBatch inFlight = batch();
        ExpertBackend.Pending pending = experts.submit(inFlight);
        await(() -> a.requests.get() == 1, "the stand-in holds the batch");

        experts.usePlacement(published(20, MODEL, b));
        runAllRowsBack(experts);
        assertEquals(1, b.requests.get(), "a batch after the switch goes to the new service");
        assertEquals(0, a.streamsEnded.get(), "the batch sent before the switch still waits on its stream");

        a.answerHeld();
        pending.await();
        assertAllRowsBack(inFlight);
        await(() -> a.streamsEnded.get() == 1, "the service no placement names is disconnected");
        assertEquals(0, b.streamsEnded.get());
    }

    @Test
    void aServiceBothPlacementsNameKeepsItsStreamAndItsBreaker() {
        StandInExpertService a = standIn();
        StandInExpertService b = standIn();
        experts.usePlacement(published(10, MODEL, a, b));
        a.behaviour = Behaviour.BREAK;
        runAllRowsBack(experts);
        a.behaviour = Behaviour.ECHO;

        StandInExpertService c = standIn();
        experts.usePlacement(published(20, MODEL, a, b, c));
        runAllRowsBack(experts);
        assertEquals(Set.of(a.address(), b.address(), c.address()), Set.copyOf(servicesInUse()));
        assertEquals(InstanceBreaker.State.OPEN, experts.services().get(servicesInUse().indexOf(a.address()))
                .breaker(), "the service that failed is still passed over");
        assertEquals(1, b.streamsOpened.get(), "no new stream to the service both placements name");
        assertEquals(0, b.streamsEnded.get());
    }

    @Test
    void aPlacementForAnotherModelIsIgnored() {
        StandInExpertService a = standIn();
        assertFalse(experts.usePlacement(published(10, "feedfacefeedface", a)));
        assertEquals(0, experts.placement().version());
        assertEquals(List.of(), servicesInUse());
    }

    @Test
    void aPlacementNotNewerThanTheOneInUseIsIgnored() {
        StandInExpertService a = standIn();
        StandInExpertService b = standIn();
        assertTrue(experts.usePlacement(published(20, MODEL, a)));
        assertFalse(experts.usePlacement(published(20, MODEL, b)), "the same version again");
        assertFalse(experts.usePlacement(published(15, MODEL, b)), "an older version");
        assertEquals(20, experts.placement().version());
        assertEquals(List.of(a.address()), servicesInUse());
        runAllRowsBack(experts);
        assertEquals(0, b.requests.get());
    }

    @Test
    void aPlacementGivingAnExpertTheModelDoesNotHaveIsIgnored() {
        StandInExpertService a = standIn();
        Placement dense = published(10, MODEL, a).toBuilder().addExperts(ExpertReplicas.newBuilder().setLayer(0)
                .setExpert(3).addReplicas(Replica.newBuilder().setAddress(a.address()).setWeight(1))).build();
        assertFalse(experts.usePlacement(dense), "layer 0 is dense");
        assertEquals(0, experts.placement().version());
        assertEquals(List.of(), servicesInUse());
    }
}
