package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.runAllRowsBack;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How a routed-expert call's latency is split: the overhead is the round trip less the compute of the answer that
 * came back last, and that overhead splits into sending, the last answer's queue in its service, and transport.
 */
class ExpertLatencyTest {
    private static final long MS = 1_000_000;

    /** Within the histograms' precision (2 significant digits), and a microsecond. */
    private static void assertNear(long expected, long actual, String what) {
        assertTrue(Math.abs(expected - actual) <= expected / 100 + 1_000, what + ": " + actual + " ns, expected "
                + expected);
    }

    @Test
    void theOverheadSplitsIntoSendQueueAndTransport() {
        ExpertLatency latency = new ExpertLatency();
        latency.record(10 * MS, MS, 5 * MS, 3 * MS);
        ExpertLatency.Snapshot s = latency.snapshot(false);
        assertEquals(1, s.calls());
        assertNear(10 * MS, s.roundTripP50(), "round trip");
        assertNear(5 * MS, s.overheadP50(), "overhead = 10 ms round trip - 5 ms compute");
        assertNear(MS, s.sendP50(), "send");
        assertNear(3 * MS, s.queueP50(), "queue");
        assertNear(MS, s.transportP50(), "transport = 5 ms overhead - 1 ms send - 3 ms queue");
    }

    @Test
    void partsNeverAddUpToMoreThanTheOverhead() {
        ExpertLatency latency = new ExpertLatency();
        // a service reporting more compute than the round trip (its clock, or a lie): no overhead, nothing split
        latency.record(2 * MS, MS, 3 * MS, MS);
        ExpertLatency.Snapshot s = latency.snapshot(true);
        assertEquals(List.of(0L, 0L, 0L, 0L), List.of(s.overheadP50(), s.sendP50(), s.queueP50(), s.transportP50()));
        // a queue longer than what is left of the overhead after sending is cut to it
        latency.record(10 * MS, 2 * MS, 4 * MS, 5 * MS);
        s = latency.snapshot(false);
        assertEquals(1, s.calls(), "the reset emptied the first call's figures");
        assertNear(6 * MS, s.overheadP50(), "overhead");
        assertNear(4 * MS, s.queueP50(), "queue cut to overhead - send");
        assertEquals(0, s.transportP50());
    }

    @Test
    void aCallOverTwoServicesCountsTheComputeAndQueueOfTheAnswerThatCameLast() {
        try (StandInExpertService fast = new StandInExpertService();
             StandInExpertService slow = new StandInExpertService();
             RemoteExperts experts = new RemoteExperts(CONFIG, List.of(), PlacementTable
                     .none(CONFIG), "0123456789abcdef", Duration.ofSeconds(10), Duration.ofSeconds(30))) {
            Placement.Builder p = Placement.newBuilder().setVersion(1).setModelFingerprint("0123456789abcdef");
            for (int e = 0; e < EchoBatches.EXPERTS; e++) {
                String address = e < 2 ? fast.address() : slow.address();
                p.addExpertsBuilder().setLayer(LAYER).setExpert(e)
                        .addReplicas(Replica.newBuilder().setAddress(address).setWeight(1.0));
            }
            assertTrue(experts.usePlacement(p.build()));
            runAllRowsBack(experts); // connects both streams: a first call's sending includes that
            experts.latency().snapshot(true);
            // the fast one claims more compute than the slow one; only the slow one's answer held the call up
            fast.reportComputeNanos = 40 * MS;
            slow.echoAfterMillis = 60;
            slow.reportComputeNanos = 30 * MS;
            slow.reportQueueNanos = 20 * MS;

            long tookMs = runAllRowsBack(experts);
            ExpertLatency.Snapshot s = experts.latency().snapshot(false);

            assertEquals(1, s.calls());
            assertTrue(s.roundTripP50() >= 59 * MS && s.roundTripP50() <= (tookMs + 1) * MS,
                    "round trip " + s.roundTripP50() + " ns: at least the slow service's 60 ms, within the call's " + tookMs);
            // both the round trip and the overhead are read back from histograms, so their two roundings add up
            long expectedOverhead = s.roundTripP50() - 30 * MS;
            assertTrue(Math.abs(expectedOverhead - s.overheadP50()) <= (s.roundTripP50() + expectedOverhead) / 100,
                    "overhead: the round trip less the last answer's 30 ms of compute, not the 40 ms the earlier answer"
                            + " reported: " + s.overheadP50() + " ns, expected " + expectedOverhead);
            assertNear(20 * MS, s.queueP50(), "the last answer's queue");
            assertNear(s.overheadP50(), s.sendP50() + s.queueP50() + s.transportP50(), "send + queue + transport");
            assertTrue(s.sendP50() < 20 * MS, "packing 8 rows and handing two requests to gRPC: " + s.sendP50() + " ns");
        }
    }
}
