package dev.moemesh.orchestrator.ingest;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;

import java.util.List;
import java.util.Optional;

/**
 * One valid request from {@code inference.requests}: its prompt as token ids, as text (then the orchestrator's
 * tokenizer encodes it) or as chat messages (then the checkpoint's chat template renders them), and how to sample
 * and where to stop.
 *
 * @param promptTokenIds set when the request gave {@code prompt_token_ids}
 * @param prompt         set when the request gave {@code prompt}
 * @param messages       set when the request gave {@code messages}
 * @param stop           strings that end the generation when the text reaches one (not included in the text)
 * @param replyTopic     where its events go instead of {@code inference.responses}
 * @param logprobs       {@code SamplingParams.NO_LOGPROBS}, or each generated token's log-probability with this many
 *                       most likely alternatives (0 to 20)
 */
public record InferenceRequest(String id, Optional<int[]> promptTokenIds, Optional<String> prompt,
                               Optional<List<ChatMessage>> messages, int maxTokens, float temperature, float topP,
                               int topK, long seed, int[] stopTokenIds, List<String> stop, boolean ignoreEos,
                               boolean stream, Optional<String> replyTopic, int logprobs) {

    /** Whether its events carry each generated token's log-probabilities. */
    public boolean wantsLogprobs() {
        return logprobs != SamplingParams.NO_LOGPROBS;
    }
}
