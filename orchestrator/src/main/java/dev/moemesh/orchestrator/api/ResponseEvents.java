package dev.moemesh.orchestrator.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
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

    public static byte[] token(String id, int index, int tokenId) {
        return bytes(JSON.createObjectNode().put("id", id).put("type", "token").put("index", index)
                .put("token_id", tokenId));
    }

    public static byte[] completed(String id, int[] tokenIds, Optional<String> text, String finishReason, int promptTokens,
                                   String attentionService, Timings t) {
        ObjectNode o = JSON.createObjectNode().put("id", id).put("type", COMPLETED);
        var ids = o.putArray("token_ids");
        for (int tokenId : tokenIds) ids.add(tokenId);
        text.ifPresent(s -> o.put("text", s));
        o.put("finish_reason", finishReason);
        o.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", tokenIds.length);
        o.putObject("timings").put("queue_ms", t.queueMs()).put("prefill_ms", t.prefillMs())
                .put("decode_ms", t.decodeMs()).put("total_ms", t.totalMs());
        o.put("attention_service", attentionService);
        return bytes(o);
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
