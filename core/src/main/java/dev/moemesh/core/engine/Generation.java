package dev.moemesh.core.engine;

/**
 * The outcome of one request: the generated token ids (without the stop token), why it ended, and timings.
 *
 * @param prefillNanos from the request's first step to its first generated token
 * @param decodeNanos  from the first generated token to the last
 * @param error        what went wrong when {@code finishReason} is ERROR, else null
 */
public record Generation(String id, int[] tokenIds, FinishReason finishReason, int promptTokens, long prefillNanos,
                         long decodeNanos, String error) {

    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens / (prefillNanos / 1e9);
    }

    /** Tokens after the first, over the time they took. */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 || tokenIds.length < 2 ? 0 : (tokenIds.length - 1) / (decodeNanos / 1e9);
    }
}
