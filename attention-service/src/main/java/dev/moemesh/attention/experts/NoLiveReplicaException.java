package dev.moemesh.attention.experts;

/**
 * A layer's call could not compute some routed expert: no service of the placement it used holds it, or every one
 * that does failed in the call. A newer placement (or a holder back on its feet) may serve it again, so a call may
 * wait and heal ({@link HealingCall}); the message is the error a step ends with when it does not.
 */
final class NoLiveReplicaException extends IllegalStateException {
    private final int layer;
    private final int expert;
    private final long placementVersion;
    private final boolean heldByNone;

    NoLiveReplicaException(String message, int layer, int expert, long placementVersion, boolean heldByNone) {
        super(message);
        this.layer = layer;
        this.expert = expert;
        this.placementVersion = placementVersion;
        this.heldByNone = heldByNone;
    }

    int layer() {
        return layer;
    }

    int expert() {
        return expert;
    }

    /** The version of the placement the failed call used. */
    long placementVersion() {
        return placementVersion;
    }

    /** True when that placement names no service for the expert; false when its holders all failed in the call. */
    boolean heldByNone() {
        return heldByNone;
    }
}
