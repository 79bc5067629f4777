package dev.moemesh.attention.experts;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * One placement with the expert services it names, swapped in whole: a layer's call reads the view in use once and
 * keeps it to the end, re-sends included, so the placement's indexes always point at the clients they were made for.
 * It counts its holds (one while it is the view in use, one per call under way) so that the clients only it names
 * are closed once it is out of use.
 */
final class PlacementView {
    final PlacementTable placement;
    private final ExpertInstance[] instances; // by the placement's service index
    private final AtomicInteger holds = new AtomicInteger(1);
    private long retiredAtNanos; // guarded by the RemoteExperts that made it

    PlacementView(PlacementTable placement, ExpertInstance[] instances) {
        this.placement = placement;
        this.instances = instances;
    }

    int size() {
        return instances.length;
    }

    ExpertInstance instance(int c) {
        return instances[c];
    }

    ExpertClient client(int c) {
        return instances[c].client();
    }

    InstanceBreaker breaker(int c) {
        return instances[c].breaker();
    }

    /** Holds the view for a call unless it is already out of use (replaced, and its last call done). */
    boolean tryHold() {
        for (int n = holds.get(); n > 0; n = holds.get()) {
            if (holds.compareAndSet(n, n + 1)) return true;
        }
        return false;
    }

    /** Gives a hold back; true when it was the last, so nothing uses the view any more. */
    boolean release() {
        return holds.decrementAndGet() == 0;
    }

    boolean inUse() {
        return holds.get() > 0;
    }

    void retiredAt(long nanos) {
        retiredAtNanos = nanos;
    }

    long retiredAt() {
        return retiredAtNanos;
    }
}
