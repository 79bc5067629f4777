package dev.moemesh.core.model;

import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.concurrent.Semaphore;

/** Activation buffers of a forward pass, grown to the largest step seen and then reused, step after step. */
public final class Workspace {
    /** What a buffer holds. */
    public enum Slot {
        HIDDEN, NORMED, BRANCH, Q, Q_LATENT, KV, Q_HEAD, Q_ABSORBED, Q_ABSORBED_HEAD, ATTN_LATENT, ATTN_HEAD, ATTN,
        GATE_UP, ACT, SHARED, LOGITS_IN, ROUTING_WEIGHTS, GATE_SCRATCH, MTP_INPUT
    }

    /** What an int buffer holds. */
    public enum IntSlot {
        ROUTING_EXPERTS, DISPATCH_COUNTS
    }

    private final EnumMap<Slot, float[]> buffers = new EnumMap<>(Slot.class);
    private final EnumMap<IntSlot, int[]> intBuffers = new EnumMap<>(IntSlot.class);
    private RoutedBatch routed; // refilled by every MoE layer of the pass
    private Semaphore cores; // null: this pass has the cores to itself
    private ExpertsUnservedException[] unserved = new ExpertsUnservedException[0]; // by row, this pass
    private int unservedTo;  // rows [0, unservedTo) may have an entry

    /**
     * Makes this pass one of several that take turns on the cores (micro-batches): it computes only while it holds
     * {@code cores}, and lets go of it while its routed experts are away.
     */
    public void takeTurnsOn(Semaphore cores) {
        this.cores = cores;
    }

    /** Waits for routed experts, leaving the cores to the other micro-batch meanwhile. */
    public void awaitExperts(ExpertBackend.Pending routed) {
        if (cores == null) {
            routed.await();
            return;
        }
        cores.release();
        try {
            routed.await();
        } finally {
            cores.acquireUninterruptibly();
        }
    }

    /** Starts a forward pass: no row of it has missed an expert yet. */
    public void startPass() {
        Arrays.fill(unserved, 0, unservedTo, null);
        unservedTo = 0;
    }

    /**
     * Row {@code row} of this pass was routed to an expert that was not computed ({@code why}); its values are wrong
     * from here on. A row keeps the first reason, unless a later one cannot be waited for (no outage): that one
     * decides.
     */
    public void unserved(int row, ExpertsUnservedException why) {
        if (row >= unserved.length) unserved = Arrays.copyOf(unserved, Math.max(row + 1, unserved.length * 2));
        ExpertsUnservedException before = unserved[row];
        if (before == null || (before.outage() != null && why.outage() == null)) unserved[row] = why;
        unservedTo = Math.max(unservedTo, row + 1);
    }

    /** Why row {@code row} of this pass missed an expert; null when it did not. */
    public ExpertsUnservedException unserved(int row) {
        return row < unservedTo ? unserved[row] : null;
    }

    /** Whether some row of this pass missed an expert. */
    public boolean anyUnserved() {
        return unservedTo > 0;
    }

    /** Adds the rows another workspace's pass missed, numbered from {@code offset} in this one. */
    public void addUnserved(Workspace other, int offset) {
        for (int r = 0; r < other.unservedTo; r++) {
            if (other.unserved[r] != null) unserved(offset + r, other.unserved[r]);
        }
    }

    /** An int buffer of at least {@code size} ints; its contents are whatever the last user left. */
    public int[] ints(IntSlot slot, int size) {
        int[] b = intBuffers.get(slot);
        if (b == null || b.length < size) {
            b = new int[Math.max(size, b == null ? 0 : b.length + b.length / 2)];
            intBuffers.put(slot, b);
        }
        return b;
    }

    /** The routed batch the MoE layers of this pass refill one after another. */
    public RoutedBatch routedBatch(int hidden) {
        if (routed == null || routed.hidden() != hidden) routed = RoutedBatch.reusable(hidden);
        return routed;
    }

    /** A buffer of at least {@code size} floats; its contents are whatever the last user left. */
    public float[] buffer(Slot slot, int size) {
        float[] b = buffers.get(slot);
        if (b == null || b.length < size) {
            b = new float[Math.max(size, b == null ? 0 : b.length + b.length / 2)];
            buffers.put(slot, b);
        }
        return b;
    }
}
