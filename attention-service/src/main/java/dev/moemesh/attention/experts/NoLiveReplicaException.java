package dev.moemesh.attention.experts;

/**
 * A layer's call could not compute some routed experts: no service of the placement it used holds them, or every one
 * that does failed in the call. The call's other experts were computed. A newer placement (or a holder back on its
 * feet) may serve them again, so their rows may wait ({@link HealingCall}); the message, naming the first of them, is
 * the error those rows end with when they do not.
 */
final class NoLiveReplicaException extends IllegalStateException {
    private final int layer;
    private final int[] experts;
    private final long placementVersion;
    private final boolean heldByNone;

    /**
     * @param experts    the layer's experts not computed, ascending
     * @param heldByNone whether the placement names no service for one of them (rather than its holders all failing)
     */
    NoLiveReplicaException(String message, int layer, int[] experts, long placementVersion, boolean heldByNone) {
        super(message);
        this.layer = layer;
        this.experts = experts;
        this.placementVersion = placementVersion;
        this.heldByNone = heldByNone;
    }

    int layer() {
        return layer;
    }

    /** The first expert not computed: the one the message names. */
    int expert() {
        return experts[0];
    }

    /** Every expert of the call not computed. */
    int[] experts() {
        return experts.clone();
    }

    /** The version of the placement the failed call used. */
    long placementVersion() {
        return placementVersion;
    }

    /** True when that placement names no service for one of the experts; false when their holders all failed. */
    boolean heldByNone() {
        return heldByNone;
    }
}
