package dev.moemesh.router.api;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.StopStrings;

import java.util.Optional;

/**
 * A validated {@code /v1/completions} or {@code /v1/chat/completions} request: the prompt as token ids (the chat's
 * rendered through the checkpoint's template), how to sample, its {@code stop} strings, how many choices, and whether
 * to stream (and end the stream with the usage).
 */
public record OpenAiRequest(boolean chat, int[] promptIds, SamplingParams sampling, Optional<StopStrings> stops,
                            int n, boolean stream, boolean includeUsage) {

    /** How choice {@code index} samples: each its own generation, with the seed plus its index. */
    public SamplingParams sampling(int index) {
        return index == 0 ? sampling : sampling.withSeed(sampling.seed() + index);
    }
}
