package dev.moemesh.router.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads the body of a completion or chat completion request into an {@link OpenAiRequest}, refusing what the mesh
 * cannot honour with an {@link OpenAiError} that names the field.
 */
public final class RequestParser {
    /** OpenAI's default {@code max_tokens} of a completion. */
    private static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String modelName;
    private final Tokenizer tokenizer;
    private final int maxPromptTokens;
    private final int maxTokens;

    public RequestParser(String modelName, Tokenizer tokenizer, int maxPromptTokens, int maxTokens) {
        this.modelName = modelName;
        this.tokenizer = tokenizer;
        this.maxPromptTokens = maxPromptTokens;
        this.maxTokens = maxTokens;
    }

    public OpenAiRequest parse(String body, boolean chat) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw OpenAiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw OpenAiError.invalid(null, "the body must be a JSON object");
        checkModel(root.get("model"));
        refuseUnsupported(root);
        int[] prompt = chat ? chatPrompt(root.get("messages")) : completionPrompt(root.get("prompt"));
        String promptField = chat ? "messages" : "prompt";
        if (prompt.length > maxPromptTokens) {
            throw new OpenAiError(400, "invalid_request_error", promptField, "context_length_exceeded", promptField
                    + " is " + prompt.length + " tokens, over this router's limit of " + maxPromptTokens
                    + " (router.max-prompt-tokens)");
        }
        JsonNode max = chat && root.hasNonNull("max_completion_tokens")
                ? root.get("max_completion_tokens") : root.get("max_tokens");
        int maxNew = max == null || max.isNull() ? (chat ? maxTokens : COMPLETION_DEFAULT_MAX_TOKENS)
                : integer(max, "max_tokens", 1, maxTokens);
        float temperature = (float) number(root.get("temperature"), "temperature", 1.0, 0, 2);
        float topP = (float) number(root.get("top_p"), "top_p", 1.0, Double.MIN_VALUE, 1);
        int topK = root.hasNonNull("top_k") ? integer(root.get("top_k"), "top_k", 0, Integer.MAX_VALUE) : 0;
        long seed = root.hasNonNull("seed") ? seed(root.get("seed")) : 0;
        SamplingParams sampling = new SamplingParams(maxNew, temperature, topK, topP, seed,
                tokenIds(root.get("stop_token_ids"), "stop_token_ids", true), bool(root.get("ignore_eos"), "ignore_eos"));
        return new OpenAiRequest(chat, prompt, sampling, bool(root.get("stream"), "stream"));
    }

    private void checkModel(JsonNode model) {
        if (model == null || !model.isTextual()) throw OpenAiError.invalid("model", "model is required: send \""
                + modelName + "\"");
        if (!model.asText().equals(modelName)) {
            throw new OpenAiError(404, "invalid_request_error", "model", "model_not_found", "The model '"
                    + model.asText() + "' does not exist; this router serves '" + modelName + "' (GET /v1/models)");
        }
    }

    private static void refuseUnsupported(JsonNode root) {
        JsonNode stop = root.get("stop");
        if (stop != null && !stop.isNull() && !(stop.isArray() && stop.isEmpty())) {
            throw OpenAiError.invalid("stop", "stop strings are not supported by this router; send stop_token_ids"
                    + " (token ids that end the generation) instead");
        }
        JsonNode n = root.get("n");
        if (n != null && !n.isNull() && !(n.canConvertToExactIntegral() && n.asInt() == 1)) {
            throw OpenAiError.invalid("n", "n must be 1: this router returns one choice per request");
        }
        for (String field : List.of("logprobs", "echo")) {
            JsonNode v = root.get(field);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean())) {
                throw OpenAiError.invalid(field, field + " is not supported by this router; leave it out");
            }
        }
    }

    private int[] completionPrompt(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) throw OpenAiError.invalid("prompt", "prompt is required");
        if (prompt.isTextual()) {
            if (prompt.asText().isEmpty()) throw OpenAiError.invalid("prompt", "prompt must not be empty");
            return tokenizer.encode(prompt.asText(), true);
        }
        if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isNumber()) {
            return tokenIds(prompt, "prompt", false);
        }
        throw OpenAiError.invalid("prompt", "prompt must be a string or a non-empty array of token ids"
                + " (one prompt per request)");
    }

    private int[] chatPrompt(JsonNode messages) {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw OpenAiError.invalid("messages", "messages must be a non-empty array of {role, content}");
        }
        var template = tokenizer.chatTemplate().orElseThrow(() -> OpenAiError.invalid("messages",
                "model '" + modelName + "' has no chat template; use /v1/completions"));
        List<ChatMessage> chat = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject() || !m.path("role").isTextual()) {
                throw OpenAiError.invalid(at + ".role", at + " must be an object with a string role");
            }
            if (!m.path("content").isTextual()) {
                throw OpenAiError.invalid(at + ".content", at + ".content must be a string");
            }
            chat.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        String rendered;
        try {
            rendered = template.render(chat, true);
        } catch (RuntimeException e) {
            throw OpenAiError.invalid("messages", "the chat template refused the messages: " + e.getMessage());
        }
        // the template writes the special tokens (BOS included) itself
        return tokenizer.encode(rendered, false);
    }

    private static int[] tokenIds(JsonNode array, String field, boolean optional) {
        if (optional && (array == null || array.isNull())) return new int[0];
        if (array == null || !array.isArray()) throw OpenAiError.invalid(field, field + " must be an array of token ids");
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = integer(array.get(i), field + "[" + i + "]", 0, Integer.MAX_VALUE);
        return ids;
    }

    private static int integer(JsonNode v, String field, int min, int max) {
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw OpenAiError.invalid(field, field + " must be an integer from " + min + " to " + max + ", got " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode v, String field, double absent, double min, double max) {
        if (v == null || v.isNull()) return absent;
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw OpenAiError.invalid(field, field + " must be a number from " + (min == Double.MIN_VALUE ? "above 0"
                    : min) + " to " + max + ", got " + v);
        }
        return v.asDouble();
    }

    private static long seed(JsonNode v) {
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong()) {
            throw OpenAiError.invalid("seed", "seed must be an integer, got " + v);
        }
        return v.asLong();
    }

    private static boolean bool(JsonNode v, String field) {
        if (v == null || v.isNull()) return false;
        if (!v.isBoolean()) throw OpenAiError.invalid(field, field + " must be true or false, got " + v);
        return v.asBoolean();
    }
}
