package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.batch;
import static dev.moemesh.attention.experts.EchoBatches.runAllRowsBack;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.attention.experts.StandInExpertService.Behaviour;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Failover of {@link RemoteExperts} over real gRPC streams to stand-in expert services on loopback
 * ({@link StandInExpertService}), which echo each request's rows and can be told to refuse, hang or break the stream.
 */
class RemoteExpertsFailoverTest {
    private final List<StandInExpertService> standIns = new ArrayList<>();
    private final List<ExpertClient> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(ExpertClient::close);
        standIns.forEach(StandInExpertService::close);
    }

    /** Stand-ins that all hold experts 0-3 of {@link #LAYER}, and a RemoteExperts over them. */
    private RemoteExperts replicas(int count, Duration timeout, Duration openFor) {
        List<String> addresses = new ArrayList<>();
        List<List<int[]>> held = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StandInExpertService s = new StandInExpertService();
            standIns.add(s);
            addresses.add(s.address());
            clients.add(new ExpertClient(s.address()));
            held.add(List.of(new int[] {LAYER, 0}, new int[] {LAYER, 1}, new int[] {LAYER, 2}, new int[] {LAYER, 3}));
        }
        return new RemoteExperts(CONFIG, clients, PlacementTable.of(1, CONFIG, addresses, held), "fingerprint", timeout,
                openFor);
    }

    @Test
    void aShareWhoseStreamBreaksIsResentToTheOtherReplica() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        standIns.get(0).behaviour = Behaviour.BREAK;
        runAllRowsBack(experts);
        assertEquals(1, experts.callsRetried());
        assertEquals(InstanceBreaker.State.OPEN, experts.services().get(0).breaker());
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(1).breaker());
    }

    @Test
    void aServiceThatWentAwayBetweenCallsIsPassedOverWithoutWaitingForItsConnection() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        experts.run(batch());
        standIns.get(0).server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!clients.get(0).streamBroken() && System.nanoTime() < giveUp) Thread.sleep(10);

        long tookMs = runAllRowsBack(experts);
        assertTrue(tookMs < 1_000, "no wait for the gone service's connection: " + tookMs + " ms");
        assertEquals(0, experts.callsRetried(), "nothing had to be re-sent");
        assertEquals(InstanceBreaker.State.OPEN, experts.services().get(0).breaker());
    }

    @Test
    void anOpenServiceIsPassedOverUntilOneCallProbesItAndItsAnswerPutsItBackInUse() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(1));
        StandInExpertService first = standIns.get(0);
        first.behaviour = Behaviour.BREAK;
        experts.run(batch());
        first.behaviour = Behaviour.ECHO;
        int before = first.requests.get();

        runAllRowsBack(experts);
        assertEquals(before, first.requests.get(), "the open service got no share");

        Thread.sleep(1_100);
        runAllRowsBack(experts);
        assertEquals(before + 1, first.requests.get(), "one call probed it");
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker());
        assertEquals(1, experts.callsRetried(), "nothing failed after the first call");
    }

    @Test
    void aRefusalOfTheRequestItselfFailsTheStepWithoutTryingAnotherReplica() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        for (StandInExpertService s : standIns) s.behaviour = Behaviour.REFUSE_PLACEMENT;
        RoutedBatch batch = batch();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch));
        assertTrue(e.getMessage().contains("refused layer " + LAYER + ": FAILED_PRECONDITION"), e.getMessage());
        assertEquals(0, experts.callsRetried());
        assertEquals(2, standIns.get(0).requests.get() + standIns.get(1).requests.get(),
                "each replica got its own share once, nothing was re-sent");
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker(), "the service is well");
    }

    @Test
    void notFoundIsResentToAnotherReplicaAndLeavesTheBreakerClosed() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        standIns.get(0).behaviour = Behaviour.REFUSE_NOT_HELD;
        runAllRowsBack(experts);
        assertEquals(1, experts.callsRetried());
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker(),
                "a stale placement says nothing against the service");
    }

    @Test
    void aProbeThatHangsIsAbandonedAtHalfTheTimeoutAndItsShareResent() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(4), Duration.ofMillis(100));
        StandInExpertService first = standIns.get(0);
        first.behaviour = Behaviour.BREAK;
        experts.run(batch());
        first.behaviour = Behaviour.HANG;
        Thread.sleep(200);
        int before = first.requests.get();

        long tookMs = runAllRowsBack(experts);
        assertTrue(tookMs >= 1_900 && tookMs < 4_000, "abandoned after 2 s, not failed at 4 s: " + tookMs + " ms");
        assertEquals(before + 1, first.requests.get(), "the probe was one request");
        assertEquals(2, experts.callsRetried());
    }

    @Test
    void anExpertWhoseEveryReplicaFailedIsNamedUnservedWithLayerExpertAndTheServicesTried() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        for (StandInExpertService s : standIns) s.behaviour = Behaviour.BREAK;
        ExpertsUnservedException e = assertThrows(ExpertsUnservedException.class, () -> experts.run(batch()));
        assertTrue(e.getMessage().matches("layer 1 expert \\d has no replica left to try: .*"), e.getMessage());
        assertArrayEquals(new int[] {0, 1, 2, 3}, e.experts(), "every expert of the batch, none computed");
        assertNull(e.outage(), "healing is off: the rows end at once");
        for (StandInExpertService s : standIns) {
            assertTrue(e.getMessage().contains("expert service " + s.address() + " failed on layer 1: UNAVAILABLE"),
                    e.getMessage());
        }
    }
}
