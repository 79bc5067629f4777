package dev.moemesh.orchestrator.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.proto.TokenLogprobs;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The JSON values of {@code inference.responses} ({@code docs/schemas/inference-response.schema.json}): token events
 * while a streamed request runs, then exactly one terminal event, {@code completed} or {@code error}.
 */
public final class ResponseEvents {
    /** {@code type} of a terminal event: no more events follow for its id. */
    public static final String COMPLETED = "completed";
    public static final String ERROR = "error";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ResponseEvents() {}

    /** How long a request took, in milliseconds: waiting here and there, prefill, decode, and in all. */
    public record Timings(double queueMs, double prefillMs, double decodeMs, double totalMs) {}

    /** A token event; with its {@code logprobs} entry when the request asked for them. */
    public static byte[] token(String id, int index, int tokenId, Optional<TokenLogprobs> logprobs) {
        ObjectNode o = JSON.createObjectNode().put("id", id).put("type", "token").put("index", index)
                .put("token_id", tokenId);
        logprobs.ifPresent(l -> logprobsEntry(o.putObject("logprobs"), tokenId, l));
        return bytes(o);
    }

    /**
     * A completed event; {@code logprobs}, when the request asked for them, holds one per token of {@code tokenIds}
     * (at least as many, in order).
     */
    public static byte[] completed(String id, int[] tokenIds, Optional<String> text, String finishReason, int promptTokens,
                                   String attentionService, Timings t, Optional<List<TokenLogprobs>> logprobs) {
        ObjectNode o = JSON.createObjectNode().put("id", id).put("type", COMPLETED);
        var ids = o.putArray("token_ids");
        for (int tokenId : tokenIds) ids.add(tokenId);
        text.ifPresent(s -> o.put("text", s));
        o.put("finish_reason", finishReason);
        o.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", tokenIds.length);
        o.putObject("timings").put("queue_ms", t.queueMs()).put("prefill_ms", t.prefillMs())
                .put("decode_ms", t.decodeMs()).put("total_ms", t.totalMs());
        o.put("attention_service", attentionService);
        logprobs.ifPresent(all -> {
            var entries = o.putArray("logprobs");
            for (int i = 0; i < tokenIds.length; i++) logprobsEntry(entries.addObject(), tokenIds[i], all.get(i));
        });
        return bytes(o);
    }

    /** {@code {token_id, logprob, top_logprobs: [{token_id, logprob}]}}: a token's, its alternatives most likely first. */
    private static void logprobsEntry(ObjectNode entry, int tokenId, TokenLogprobs l) {
        entry.put("token_id", tokenId).put("logprob", l.getLogprob());
        var top = entry.putArray("top_logprobs");
        for (int j = 0; j < l.getTopTokenIdsCount(); j++) {
            top.addObject().put("token_id", l.getTopTokenIds(j)).put("logprob", l.getTopLogprobs(j));
        }
    }

    public static byte[] error(String id, String code, String message) {
        return bytes(JSON.createObjectNode().put("id", id).put("type", ERROR).put("code", code).put("message", message));
    }

    /** The {@code type} of an event value, or empty when it is not one of these events. */
    public static Optional<String> type(byte[] value) {
        try {
            var node = JSON.readTree(value);
            return node != null && node.path("type").isTextual() ? Optional.of(node.get("type").asText()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static byte[] bytes(ObjectNode o) {
        try {
            return JSON.writeValueAsBytes(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write an event as JSON", e);
        }
    }
}
