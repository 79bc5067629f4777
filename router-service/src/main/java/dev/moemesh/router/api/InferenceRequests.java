package dev.moemesh.router.api;

import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.proto.ChatTurn;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.QuotaRefusal;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;

import java.util.List;

/** Checks an {@code InferenceRequest} as the gRPC door receives it and turns it into a generation; refusals name the field. */
final class InferenceRequests {
    private InferenceRequests() {}

    /**
     * @throws InvalidRequest naming the field ({@code INVALID_ARGUMENT}, or {@code NOT_FOUND} for another model)
     * @throws QuotaRefusal past the key's size or {@code max_tokens} bound
     */
    static GenerationRequest toGeneration(String id, InferenceRequest r, Prompts prompts, KeyQuota key) {
        key.checkSize(r.getSerializedSize(), "grpc");
        prompts.checkModel(r.getModel());
        int[] prompt = prompt(r, prompts);
        return new GenerationRequest(id, prompt, sampling(r, prompts, key));
    }

    private static int[] prompt(InferenceRequest r, Prompts prompts) {
        int given = (r.getPrompt().isEmpty() ? 0 : 1) + (r.getPromptTokenIdsCount() == 0 ? 0 : 1)
                + (r.getMessagesCount() == 0 ? 0 : 1);
        if (given != 1) {
            throw InvalidRequest.of("prompt", "send exactly one of prompt, prompt_token_ids and messages; got " + given);
        }
        if (!r.getPrompt().isEmpty()) return prompts.text(r.getPrompt(), "prompt");
        if (r.getPromptTokenIdsCount() > 0) {
            return prompts.tokenIds(tokenIds(r.getPromptTokenIdsList(), "prompt_token_ids"), "prompt_token_ids");
        }
        List<ChatMessage> messages = r.getMessagesList().stream().map(InferenceRequests::message).toList();
        return prompts.chat(messages, "messages");
    }

    /**
     * The ids of a {@code repeated uint32}, each a token id: one from 2^31 up arrives as a negative int, which the
     * attention service would only refuse later, and a stop id never matched.
     */
    private static int[] tokenIds(List<Integer> wire, String field) {
        int[] ids = new int[wire.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = wire.get(i);
            if (ids[i] < 0) {
                throw InvalidRequest.of(field, field + "[" + i + "] is " + Integer.toUnsignedString(ids[i])
                        + ", not a token id (0 to " + Integer.MAX_VALUE + ")");
            }
        }
        return ids;
    }

    private static ChatMessage message(ChatTurn turn) {
        try {
            return new ChatMessage(turn.getRole(), turn.getContent());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.of("messages", "messages: " + e.getMessage());
        }
    }

    private static SamplingParams sampling(InferenceRequest r, Prompts prompts, KeyQuota key) {
        if (!r.hasSampling()) throw InvalidRequest.of("sampling", "sampling is required (at least max_tokens)");
        long maxTokens = prompts.checkMaxTokens(Integer.toUnsignedLong(r.getSampling().getMaxTokens()),
                "sampling.max_tokens");
        key.maxTokens(maxTokens, 0, "sampling.max_tokens", "grpc");
        tokenIds(r.getSampling().getStopTokenIdsList(), "sampling.stop_token_ids");
        try {
            return GenerationWire.sampling(r.getSampling());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.of("sampling", "sampling." + e.getMessage());
        }
    }
}
