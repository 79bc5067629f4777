package dev.moemesh.router.api;

import dev.moemesh.core.engine.SamplingParams;

/**
 * A validated {@code /v1/completions} or {@code /v1/chat/completions} request: the prompt as token ids (the chat's
 * rendered through the checkpoint's template), how to sample, and whether to stream.
 */
public record OpenAiRequest(boolean chat, int[] promptIds, SamplingParams sampling, boolean stream) {}
