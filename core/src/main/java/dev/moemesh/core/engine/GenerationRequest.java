package dev.moemesh.core.engine;

/** A prompt, as token ids, and how to continue it. */
public record GenerationRequest(String id, int[] promptIds, SamplingParams sampling) {
    public GenerationRequest {
        if (promptIds == null || promptIds.length == 0) {
            throw new IllegalArgumentException("request " + id + ": the prompt has no tokens");
        }
        promptIds = promptIds.clone();
    }
}
