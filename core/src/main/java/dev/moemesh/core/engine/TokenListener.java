package dev.moemesh.core.engine;

/** Receives a request's tokens as they are generated, then its end; called on the engine's thread. */
public interface TokenListener {

    default void onToken(String requestId, int tokenId) {}

    /** A token with its log-probabilities: null unless the request asked for them ({@link SamplingParams#logprobs}). */
    default void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {
        onToken(requestId, tokenId);
    }

    void onFinish(Generation generation);
}
