package dev.moemesh.orchestrator.membership;

/** A call names an instance that is not registered (never, or no longer: it missed its heartbeats). */
public final class UnknownInstanceException extends RuntimeException {
    public UnknownInstanceException(String instanceId) {
        super("instance '" + instanceId + "' is not registered (or missed its heartbeats); register it first");
    }
}
