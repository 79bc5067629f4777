package dev.moemesh.core.moe;

/**
 * Some of a layer's routed experts could not be computed: no holder of theirs can be reached now. Thrown by
 * {@link ExpertBackend.Pending#await} once the outputs of every other expert of the batch are in. The forward pass
 * goes on without the missing outputs (their rows carry wrong values from here on, and every row is computed on its
 * own, so no other row is touched), and the engine sets the sequences of the rows routed to them aside: with an
 * {@link #outage()}, to wait for the experts to be served again; without one, to end with this message.
 */
public final class ExpertsUnservedException extends RuntimeException {
    private final int layer;
    private final int[] experts;
    private final transient ExpertOutage outage;

    /**
     * @param message the error a sequence that needed them ends with (naming the layer, an expert and why)
     * @param experts the layer's experts not computed, ascending
     * @param outage  how their rows may wait for them; null when they cannot
     */
    public ExpertsUnservedException(String message, int layer, int[] experts, ExpertOutage outage) {
        super(message);
        if (experts.length == 0) throw new IllegalArgumentException("no expert named unserved");
        this.layer = layer;
        this.experts = experts.clone();
        this.outage = outage;
    }

    public int layer() {
        return layer;
    }

    /** The layer's experts not computed. */
    public int[] experts() {
        return experts.clone();
    }

    /** Whether {@code expert} of this layer was not computed. */
    public boolean unserved(int expert) {
        for (int e : experts) if (e == expert) return true;
        return false;
    }

    /** How the rows routed to these experts may wait for them; null when they cannot (they end now). */
    public ExpertOutage outage() {
        return outage;
    }
}
