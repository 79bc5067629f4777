package dev.moemesh.orchestrator.membership;

/** An instance serves another model than the mesh: its model fingerprint is not the control plane's. */
public final class ModelMismatchException extends RuntimeException {
    public ModelMismatchException(String who, String fingerprint, ServedModel served) {
        super(who + " has model_fingerprint '" + fingerprint + "' but this mesh serves '" + served.fingerprint()
                + "' (" + served.source() + "); start it on the same checkpoint");
    }
}
