package dev.moemesh.attention.experts;

import org.HdrHistogram.Histogram;

/**
 * Latency of routed-expert calls, one per MoE layer per step: the round trip from dispatch until every service's
 * answer is back, and its overhead, the round trip less the slowest service's own compute time.
 */
public final class ExpertLatency {
    private static final long MAX_NANOS = 60_000_000_000L;

    private final Histogram roundTrip = new Histogram(MAX_NANOS, 2);
    private final Histogram overhead = new Histogram(MAX_NANOS, 2);

    /** The figures as of now. */
    public record Snapshot(long calls, long roundTripP50, long roundTripP99, long overheadP50, long overheadP99) {}

    synchronized void record(long roundTripNanos, long slowestComputeNanos) {
        roundTrip.recordValue(Math.min(MAX_NANOS, Math.max(0, roundTripNanos)));
        overhead.recordValue(Math.min(MAX_NANOS, Math.max(0, roundTripNanos - slowestComputeNanos)));
    }

    public synchronized Snapshot snapshot(boolean reset) {
        Snapshot s = new Snapshot(roundTrip.getTotalCount(), roundTrip.getValueAtPercentile(50),
                roundTrip.getValueAtPercentile(99), overhead.getValueAtPercentile(50), overhead.getValueAtPercentile(99));
        if (reset) {
            roundTrip.reset();
            overhead.reset();
        }
        return s;
    }
}
