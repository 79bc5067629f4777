package dev.moemesh.attention.api;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bound on the generations an attention service holds: a full batch ({@code attention.max-sequences}) plus a
 * queue of {@code attention.max-queued-requests}. Past it, {@code Generate} is refused {@code RESOURCE_EXHAUSTED}
 * at once, so overload shows as refusals the doors can pass on (429, {@code RESOURCE_EXHAUSTED}, Kafka lag) instead
 * of a queue, and heap, that grow without end.
 */
final class Admission {
    private final int batch;
    private final int queue;
    private final AtomicInteger held = new AtomicInteger();

    Admission(int maxSequences, int maxQueued) {
        if (maxQueued < 0) throw new IllegalArgumentException("attention.max-queued-requests must be >= 0, got " + maxQueued);
        this.batch = maxSequences;
        this.queue = maxQueued;
    }

    /** Takes a place, or returns false when every place is held; a taken place is given back with {@link #release}. */
    boolean tryAdmit() {
        for (int n; (n = held.get()) < batch + queue; ) {
            if (held.compareAndSet(n, n + 1)) return true;
        }
        return false;
    }

    void release() {
        held.decrementAndGet();
    }

    int held() {
        return held.get();
    }

    StatusRuntimeException refusal(String requestId) {
        return Status.RESOURCE_EXHAUSTED.withDescription("request " + requestId + " refused: this attention service"
                + " holds " + (batch + queue) + " generations (attention.max-sequences " + batch
                + " + attention.max-queued-requests " + queue + "); retry later or on another service").asRuntimeException();
    }
}
