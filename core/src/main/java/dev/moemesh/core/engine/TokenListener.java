package dev.moemesh.core.engine;

/** Receives a request's tokens as they are generated, then its end; called on the engine's thread. */
public interface TokenListener {

    default void onToken(String requestId, int tokenId) {}

    void onFinish(Generation generation);
}
