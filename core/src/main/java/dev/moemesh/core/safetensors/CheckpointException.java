package dev.moemesh.core.safetensors;

/** A checkpoint problem a user can act on; the message names the file and, where there is one, the tensor. */
public final class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
