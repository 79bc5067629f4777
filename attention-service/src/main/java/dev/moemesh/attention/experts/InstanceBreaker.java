package dev.moemesh.attention.experts;

import java.util.function.LongSupplier;

/**
 * The circuit breaker of one expert-service instance: closed while it answers; open for a back-off after one of
 * its calls failed, when replica choice passes it over for a replica that is closed; half-open once the back-off
 * has passed, when one call may go to it as a probe, whose answer closes it and whose failure opens it afresh.
 *
 * <p>A plain class rather than SmallRye Fault Tolerance's {@code @CircuitBreaker}: that guards a method call and
 * decides by a rolling window of its outcomes, while here the calls are one layer's fan-out over persistent
 * streams, replica choice must ask "may it take work?" without making a call, and the check sits on the hot path
 * of every MoE layer (a volatile read while closed, nothing allocated).
 */
public final class InstanceBreaker {

    /** What replica choice makes of the instance. */
    public enum State { CLOSED, OPEN, HALF_OPEN }

    private final long openForNanos;
    private final LongSupplier nanoTime;
    private volatile boolean closed = true;
    private long openedAt;   // guarded by this: when the last failure opened it, or when its last probe went out
    private boolean probing; // guarded by this

    /** @param nanoTime the clock, {@code System::nanoTime} but in tests */
    public InstanceBreaker(long openForNanos, LongSupplier nanoTime) {
        if (openForNanos < 0) throw new IllegalArgumentException("open-for must not be negative: " + openForNanos + " ns");
        this.openForNanos = openForNanos;
        this.nanoTime = nanoTime;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Claims the probe of an open breaker whose back-off has passed: true means the caller sends it the next call.
     * A claimed probe restarts the back-off, so a probe that is never answered cannot keep the instance out for
     * good, and only one call per back-off probes it.
     */
    public synchronized boolean tryProbe() {
        if (closed) return false;
        long now = nanoTime.getAsLong();
        if (now - openedAt < openForNanos) return false;
        probing = true;
        openedAt = now;
        return true;
    }

    /**
     * Records an answer that arrived at {@code arrivedNanos} (the same clock): it closes the breaker unless it
     * came before the breaker last opened or probed. True when this closed it.
     */
    public boolean answered(long arrivedNanos) {
        if (closed) return false;
        synchronized (this) {
            if (closed || arrivedNanos - openedAt < 0) return false;
            closed = true;
            probing = false;
            return true;
        }
    }

    /** Records a failed call (or probe): opens the breaker for a fresh back-off. True when it was closed. */
    public synchronized boolean failed() {
        boolean wasClosed = closed;
        closed = false;
        probing = false;
        openedAt = nanoTime.getAsLong();
        return wasClosed;
    }

    public synchronized State state() {
        if (closed) return State.CLOSED;
        return probing || nanoTime.getAsLong() - openedAt >= openForNanos ? State.HALF_OPEN : State.OPEN;
    }
}
