package dev.moemesh.orchestrator.ingest;

import java.util.Optional;

/**
 * One valid request from {@code inference.requests}: its prompt as token ids or as text (then the orchestrator's
 * tokenizer encodes it), and how to sample.
 *
 * @param promptTokenIds set when the request gave {@code prompt_token_ids}
 * @param prompt         set when the request gave {@code prompt}
 */
public record InferenceRequest(String id, Optional<int[]> promptTokenIds, Optional<String> prompt, int maxTokens,
                               float temperature, float topP, int topK, long seed, int[] stopTokenIds,
                               boolean ignoreEos, boolean stream) {
}
