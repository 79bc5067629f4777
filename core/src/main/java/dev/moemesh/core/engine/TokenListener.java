package dev.moemesh.core.engine;

/**
 * Receives a request's tokens as they are generated, then its end; called on the engine's thread. One token method, so
 * a listener that passes tokens on to another passes all they carry (a second overload let wrappers drop the
 * log-probabilities unseen).
 */
public interface TokenListener {

    /** A token with its log-probabilities: null unless the request asked for them ({@link SamplingParams#logprobs}). */
    default void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {}

    void onFinish(Generation generation);
}
