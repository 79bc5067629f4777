package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** The JSON bodies of OpenAI's API: model list, completion, chat completion and their streamed chunks. */
final class OpenAiResponses {
    private static final ObjectMapper JSON = new ObjectMapper();

    private OpenAiResponses() {}

    static ObjectNode models(String model, long created) {
        ObjectNode m = JSON.createObjectNode().put("id", model).put("object", "model").put("created", created)
                .put("owned_by", "moe-mesh");
        ObjectNode list = JSON.createObjectNode().put("object", "list");
        list.putArray("data").add(m);
        return list;
    }

    /**
     * A whole answer ({@code chunk} false) or one streamed piece of it; {@code finishReason} null while it goes on.
     * Choices carry the token ids as the non-standard {@code token_ids}.
     */
    static ObjectNode answer(String id, boolean chat, boolean chunk, String model, long created, String text,
                             int[] tokenIds, String finishReason) {
        ObjectNode body = JSON.createObjectNode().put("id", id)
                .put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion")
                .put("created", created).put("model", model);
        ObjectNode choice = body.putArray("choices").addObject().put("index", 0);
        if (!chat) {
            choice.put("text", text);
        } else if (chunk) {
            ObjectNode delta = choice.putObject("delta");
            if (text != null) delta.put("content", text);
        } else {
            choice.putObject("message").put("role", "assistant").put("content", text);
        }
        ArrayNode ids = choice.putArray("token_ids");
        for (int t : tokenIds) ids.add(t);
        choice.put("finish_reason", finishReason);
        return body;
    }

    /** The first chunk of a streamed chat answer: the role, no content yet. */
    static ObjectNode chatRole(String id, String model, long created) {
        ObjectNode body = answer(id, true, true, model, created, "", new int[0], null);
        ((ObjectNode) body.get("choices").get(0).get("delta")).put("role", "assistant");
        return body;
    }

    static ObjectNode withUsage(ObjectNode body, int promptTokens, int completionTokens) {
        body.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        return body;
    }
}
