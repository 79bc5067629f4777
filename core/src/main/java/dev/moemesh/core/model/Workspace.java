package dev.moemesh.core.model;

import java.util.EnumMap;

/** Activation buffers of a forward pass, grown to the largest step seen and then reused, step after step. */
public final class Workspace {
    /** What a buffer holds. */
    public enum Slot {
        HIDDEN, NORMED, BRANCH, Q, Q_LATENT, KV, Q_HEAD, Q_ABSORBED, Q_ABSORBED_HEAD, ATTN_LATENT, ATTN_HEAD, ATTN,
        GATE_UP, ACT, SHARED, LOGITS_IN
    }

    private final EnumMap<Slot, float[]> buffers = new EnumMap<>(Slot.class);

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
