package dev.moemesh.attention.experts;

import org.HdrHistogram.Histogram;

/**
 * Latency of routed-expert calls, one per MoE layer per step: the round trip from dispatch until every service's
 * answer is back, and its overhead, the round trip less the compute time of the answer that came back last (the
 * one the call waited for). The overhead is split three ways: sending (packing rows and handing requests to gRPC,
 * on the caller's thread), that answer's queue in its expert service, and the rest, transport (gRPC both ways,
 * the network, the transport threads on either side).
 */
public final class ExpertLatency {
    private static final long MAX_NANOS = 60_000_000_000L;

    private final Histogram roundTrip = new Histogram(MAX_NANOS, 2);
    private final Histogram overhead = new Histogram(MAX_NANOS, 2);
    private final Histogram send = new Histogram(MAX_NANOS, 2);
    private final Histogram queue = new Histogram(MAX_NANOS, 2);
    private final Histogram transport = new Histogram(MAX_NANOS, 2);
    private volatile Listener listener = (roundTrip, overhead, send, queue, transport) -> {};

    /** Told of every call's figures, in nanoseconds, after they are recorded here (e.g. to meter them). */
    @FunctionalInterface
    public interface Listener {
        void call(long roundTrip, long overhead, long send, long queue, long transport);
    }

    /** The figures as of now. */
    public record Snapshot(long calls, long roundTripP50, long roundTripP99, long overheadP50, long overheadP99,
                           long sendP50, long queueP50, long transportP50) {}

    /**
     * One call.
     *
     * @param roundTripNanos dispatch until the last answer arrived
     * @param sendNanos      dispatch until every request of the first round was handed to gRPC
     * @param lastCompute    compute_nanos of the last answer to arrive
     * @param lastQueue      queue_nanos of the last answer to arrive
     */
    void record(long roundTripNanos, long sendNanos, long lastCompute, long lastQueue) {
        long trip = clamp(roundTripNanos);
        long over = clamp(roundTripNanos - lastCompute);
        long sent = Math.min(clamp(sendNanos), over);
        long queued = Math.min(clamp(lastQueue), over - sent);
        long carried = over - sent - queued;
        synchronized (this) {
            roundTrip.recordValue(trip);
            overhead.recordValue(over);
            send.recordValue(sent);
            queue.recordValue(queued);
            transport.recordValue(carried);
        }
        listener.call(trip, over, sent, queued, carried);
    }

    /** Replaces the listener (one at a time). */
    public void listen(Listener listener) {
        this.listener = listener;
    }

    private static long clamp(long nanos) {
        return Math.min(MAX_NANOS, Math.max(0, nanos));
    }

    public synchronized Snapshot snapshot(boolean reset) {
        Snapshot s = new Snapshot(roundTrip.getTotalCount(), roundTrip.getValueAtPercentile(50),
                roundTrip.getValueAtPercentile(99), overhead.getValueAtPercentile(50), overhead.getValueAtPercentile(99),
                send.getValueAtPercentile(50), queue.getValueAtPercentile(50), transport.getValueAtPercentile(50));
        if (reset) {
            for (Histogram h : new Histogram[] {roundTrip, overhead, send, queue, transport}) h.reset();
        }
        return s;
    }
}
