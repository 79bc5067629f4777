package dev.moemesh.core.engine;

/**
 * How a sequence picks its next tokens and when it stops.
 *
 * @param temperature 0 means greedy
 * @param topK        0 means no top-k cut
 * @param topP        1 means no nucleus cut
 * @param seed        the sequence's own random stream, so sampling never depends on the batch
 * @param stopIds     token ids that end the sequence (not included in the output), besides eos
 */
public record SamplingParams(int maxTokens, float temperature, int topK, float topP, long seed, int[] stopIds,
                             boolean ignoreEos) {

    public SamplingParams {
        if (maxTokens < 1) throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        stopIds = stopIds == null ? new int[0] : stopIds.clone();
    }

    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(maxTokens, 0f, 0, 1f, 0L, new int[0], false);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }
}
