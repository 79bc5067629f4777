package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

/**
 * The JSON bodies of OpenAI's API: model list, completion, chat completion and their streamed chunks. Choices carry
 * their token ids as the non-standard {@code token_ids}, and {@code logprobs} ({@link ChoiceLogprobs}; null unless
 * asked for).
 */
final class OpenAiResponses {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One choice of a whole answer: its text, tokens, their logprobs (null unless asked for) and why it ended. */
    record Choice(int index, String text, int[] tokenIds, ObjectNode logprobs, String finishReason) {}

    private OpenAiResponses() {}

    static ObjectNode models(String model, long created) {
        ObjectNode m = JSON.createObjectNode().put("id", model).put("object", "model").put("created", created)
                .put("owned_by", "moe-mesh");
        ObjectNode list = JSON.createObjectNode().put("object", "list");
        list.putArray("data").add(m);
        return list;
    }

    /** A whole answer, its choices in index order, with the usage of all of them. */
    static ObjectNode answer(String id, boolean chat, String model, long created, List<Choice> choices,
                             int promptTokens, int completionTokens) {
        ObjectNode body = head(id, chat ? "chat.completion" : "text_completion", model, created);
        ArrayNode array = body.putArray("choices");
        for (Choice c : choices) {
            ObjectNode choice = array.addObject().put("index", c.index());
            if (chat) {
                choice.putObject("message").put("role", "assistant").put("content", c.text());
            } else {
                choice.put("text", c.text());
            }
            tokenIds(choice, c.tokenIds());
            choice.set("logprobs", c.logprobs());
            choice.put("finish_reason", c.finishReason());
        }
        usage(body, promptTokens, completionTokens);
        return body;
    }

    /**
     * One streamed piece of choice {@code index}: its new text (a chat's {@code delta.content}, left out when null),
     * tokens, the logprobs of the tokens whose text it carries (null unless asked for), and {@code finishReason},
     * null while it goes on. {@code withUsage}: the stream ends with the usage, so
     * this chunk says {@code "usage": null}.
     */
    static ObjectNode chunk(String id, boolean chat, String model, long created, int index, String text,
                            int[] tokenIds, ObjectNode logprobs, String finishReason, boolean withUsage) {
        ObjectNode body = head(id, chat ? "chat.completion.chunk" : "text_completion", model, created);
        ObjectNode choice = body.putArray("choices").addObject().put("index", index);
        if (chat) {
            ObjectNode delta = choice.putObject("delta");
            if (text != null) delta.put("content", text);
        } else {
            choice.put("text", text);
        }
        tokenIds(choice, tokenIds);
        choice.set("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        if (withUsage) body.putNull("usage");
        return body;
    }

    /** The first chunk of a streamed chat choice: the role, no content yet. */
    static ObjectNode chatRole(String id, String model, long created, int index, boolean withUsage) {
        ObjectNode body = chunk(id, true, model, created, index, "", new int[0], null, null, withUsage);
        ((ObjectNode) body.get("choices").get(0).get("delta")).put("role", "assistant");
        return body;
    }

    /** The last chunk of a stream that asked for {@code stream_options.include_usage}: no choices, the usage. */
    static ObjectNode usageChunk(String id, boolean chat, String model, long created, int promptTokens,
                                 int completionTokens) {
        ObjectNode body = head(id, chat ? "chat.completion.chunk" : "text_completion", model, created);
        body.putArray("choices");
        return usage(body, promptTokens, completionTokens);
    }

    private static ObjectNode head(String id, String object, String model, long created) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", model);
    }

    private static void tokenIds(ObjectNode choice, int[] tokenIds) {
        ArrayNode ids = choice.putArray("token_ids");
        for (int t : tokenIds) ids.add(t);
    }

    private static ObjectNode usage(ObjectNode body, int promptTokens, int completionTokens) {
        body.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        return body;
    }
}
