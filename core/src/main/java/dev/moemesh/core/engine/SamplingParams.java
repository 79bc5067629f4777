package dev.moemesh.core.engine;

/**
 * How a sequence picks its next tokens and when it stops.
 *
 * @param temperature 0 means greedy
 * @param topK        0 means no top-k cut
 * @param topP        1 means no nucleus cut
 * @param seed        the sequence's own random stream, so sampling never depends on the batch
 * @param stopIds     token ids that end the sequence (not included in the output), besides eos
 * @param logprobs    {@link #NO_LOGPROBS}, or each generated token's log-probability and this many most likely
 *                    alternatives with it (0 to {@link #MAX_LOGPROBS}): see {@link TokenLogprobs}
 */
public record SamplingParams(int maxTokens, float temperature, int topK, float topP, long seed, int[] stopIds,
                             boolean ignoreEos, int logprobs) {
    /** No log-probabilities are computed (the default). */
    public static final int NO_LOGPROBS = -1;
    /** The most alternatives a token may carry: OpenAI's bound on top_logprobs. */
    public static final int MAX_LOGPROBS = 20;

    public SamplingParams {
        if (maxTokens < 1) throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (logprobs < NO_LOGPROBS || logprobs > MAX_LOGPROBS) {
            throw new IllegalArgumentException("top_logprobs must be from 0 to " + MAX_LOGPROBS + ", got " + logprobs);
        }
        stopIds = stopIds == null ? new int[0] : stopIds.clone();
    }

    /** Without log-probabilities. */
    public SamplingParams(int maxTokens, float temperature, int topK, float topP, long seed, int[] stopIds,
                          boolean ignoreEos) {
        this(maxTokens, temperature, topK, topP, seed, stopIds, ignoreEos, NO_LOGPROBS);
    }

    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(maxTokens, 0f, 0, 1f, 0L, new int[0], false);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }

    /** Whether each generated token comes with its {@link TokenLogprobs}. */
    public boolean wantsLogprobs() {
        return logprobs != NO_LOGPROBS;
    }

    /** These parameters with another seed. */
    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(maxTokens, temperature, topK, topP, newSeed, stopIds, ignoreEos, logprobs);
    }
}
