package dev.moemesh.orchestrator.ingest;

/** Why a record of {@code inference.requests} cannot be served; the message becomes its DLQ reason header. */
public final class InvalidRequestException extends Exception {
    public InvalidRequestException(String reason) {
        super(reason);
    }
}
