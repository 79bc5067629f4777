package dev.moemesh.router.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.StopStrings;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads the body of a completion or chat completion request into an {@link OpenAiRequest}, refusing what the mesh
 * cannot honour with an {@link InvalidRequest} that names the field.
 */
public final class RequestParser {
    /** OpenAI's default {@code max_tokens} of a completion. */
    private static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;
    /** OpenAI's bound on {@code stop} strings. */
    private static final int MAX_STOPS = 4;
    /** OpenAI's bound on a completion's {@code logprobs} (a chat's {@code top_logprobs} goes to 20). */
    private static final int MAX_COMPLETION_LOGPROBS = 5;
    /** Choices a request may ask for ({@code n}): each is a generation of its own. */
    static final int MAX_CHOICES = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Prompts prompts;

    public RequestParser(Prompts prompts) {
        this.prompts = prompts;
    }

    /** The request in {@code body}, within the bounds of its API key's quota ({@code key}). */
    public OpenAiRequest parse(String body, boolean chat, KeyQuota key) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw InvalidRequest.of(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw InvalidRequest.of(null, "the body must be a JSON object");
        JsonNode model = root.get("model");
        if (model != null && !model.isNull() && !model.isTextual()) throw InvalidRequest.of("model",
                "model must be a string");
        prompts.checkModel(model == null ? null : model.asText(null));
        refuseUnsupported(root);
        int[] prompt = chat ? chatPrompt(root.get("messages")) : completionPrompt(root.get("prompt"));
        JsonNode max = chat && root.hasNonNull("max_completion_tokens")
                ? root.get("max_completion_tokens") : root.get("max_tokens");
        Long asked = max == null || max.isNull() ? null : (long) prompts.checkMaxTokens(
                max.canConvertToExactIntegral() && max.canConvertToLong() ? max.asLong() : 0, "max_tokens");
        int maxNew = key.maxTokens(asked, chat ? prompts.maxTokens() : COMPLETION_DEFAULT_MAX_TOKENS, "max_tokens", "rest");
        float temperature = (float) number(root.get("temperature"), "temperature", 1.0, 0, 2);
        float topP = (float) number(root.get("top_p"), "top_p", 1.0, Double.MIN_VALUE, 1);
        int topK = root.hasNonNull("top_k") ? integer(root.get("top_k"), "top_k", 0, Integer.MAX_VALUE) : 0;
        long seed = root.hasNonNull("seed") ? seed(root.get("seed")) : 0;
        int logprobs = chat ? chatLogprobs(root) : completionLogprobs(root.get("logprobs"));
        SamplingParams sampling = new SamplingParams(maxNew, temperature, topK, topP, seed,
                tokenIds(root.get("stop_token_ids"), "stop_token_ids", true), bool(root.get("ignore_eos"), "ignore_eos"),
                logprobs);
        boolean stream = bool(root.get("stream"), "stream");
        int n = root.hasNonNull("n") ? integer(root.get("n"), "n", 1, MAX_CHOICES) : 1;
        return new OpenAiRequest(chat, prompt, sampling, stops(root.get("stop")), n, stream,
                includeUsage(root.get("stream_options"), stream));
    }

    /** Up to OpenAI's 4 non-empty strings, or one; none when absent, null or empty. */
    private Optional<StopStrings> stops(JsonNode stop) {
        if (stop == null || stop.isNull() || (stop.isArray() && stop.isEmpty())) return Optional.empty();
        List<String> stops = new ArrayList<>();
        if (stop.isTextual()) {
            stops.add(stop.asText());
        } else if (stop.isArray() && stop.size() <= MAX_STOPS) {
            stop.forEach(s -> stops.add(s.isTextual() ? s.asText() : ""));
        } else {
            throw InvalidRequest.of("stop", "stop must be a string or an array of up to " + MAX_STOPS + " strings");
        }
        if (stops.stream().anyMatch(String::isEmpty)) {
            throw InvalidRequest.of("stop", "stop must be a string or an array of up to " + MAX_STOPS
                    + " strings, none empty");
        }
        if (!prompts.readsText()) {
            throw InvalidRequest.of("stop", "model '" + prompts.modelName() + "' has no tokenizer.json, so its text"
                    + " cannot be searched for stop strings: send stop_token_ids (token ids that end the generation)");
        }
        return Optional.of(new StopStrings(stops));
    }

    private static boolean includeUsage(JsonNode options, boolean stream) {
        if (options == null || options.isNull()) return false;
        if (!options.isObject()) throw InvalidRequest.of("stream_options", "stream_options must be an object");
        if (!stream) throw InvalidRequest.of("stream_options", "stream_options is only allowed with stream: true");
        return bool(options.get("include_usage"), "stream_options.include_usage");
    }

    /** A chat's {@code logprobs: true} with {@code top_logprobs} (0 to 20) alternatives, as core counts them. */
    private static int chatLogprobs(JsonNode root) {
        boolean logprobs = bool(root.get("logprobs"), "logprobs");
        if (!root.hasNonNull("top_logprobs")) return logprobs ? 0 : SamplingParams.NO_LOGPROBS;
        int top = integer(root.get("top_logprobs"), "top_logprobs", 0, SamplingParams.MAX_LOGPROBS);
        if (!logprobs) throw InvalidRequest.of("top_logprobs", "top_logprobs needs logprobs: true");
        return top;
    }

    /** A completion's {@code logprobs}: how many alternatives (0 to 5) each token carries; none when null or false. */
    private static int completionLogprobs(JsonNode v) {
        if (v == null || v.isNull() || (v.isBoolean() && !v.asBoolean())) return SamplingParams.NO_LOGPROBS;
        return integer(v, "logprobs", 0, MAX_COMPLETION_LOGPROBS);
    }

    private static void refuseUnsupported(JsonNode root) {
        JsonNode echo = root.get("echo");
        if (echo != null && !echo.isNull() && !(echo.isBoolean() && !echo.asBoolean())) {
            throw InvalidRequest.of("echo", "echo is not supported by this router; leave it out");
        }
    }

    private int[] completionPrompt(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) throw InvalidRequest.of("prompt", "prompt is required");
        if (prompt.isTextual()) return prompts.text(prompt.asText(), "prompt");
        if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isNumber()) {
            return prompts.tokenIds(tokenIds(prompt, "prompt", false), "prompt");
        }
        throw InvalidRequest.of("prompt", "prompt must be a string or a non-empty array of token ids"
                + " (one prompt per request)");
    }

    private int[] chatPrompt(JsonNode messages) {
        if (messages == null || !messages.isArray()) {
            throw InvalidRequest.of("messages", "messages must be a non-empty array of {role, content}");
        }
        List<ChatMessage> chat = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject() || !m.path("role").isTextual()) {
                throw InvalidRequest.of(at + ".role", at + " must be an object with a string role");
            }
            if (!m.path("content").isTextual()) {
                throw InvalidRequest.of(at + ".content", at + ".content must be a string");
            }
            chat.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return prompts.chat(chat, "messages");
    }

    private static int[] tokenIds(JsonNode array, String field, boolean optional) {
        if (optional && (array == null || array.isNull())) return new int[0];
        if (array == null || !array.isArray()) throw InvalidRequest.of(field, field + " must be an array of token ids");
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = integer(array.get(i), field + "[" + i + "]", 0, Integer.MAX_VALUE);
        return ids;
    }

    private static int integer(JsonNode v, String field, int min, int max) {
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw InvalidRequest.of(field, field + " must be an integer from " + min + " to " + max + ", got " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode v, String field, double absent, double min, double max) {
        if (v == null || v.isNull()) return absent;
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw InvalidRequest.of(field, field + " must be a number from " + (min == Double.MIN_VALUE ? "above 0"
                    : min) + " to " + max + ", got " + v);
        }
        return v.asDouble();
    }

    private static long seed(JsonNode v) {
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong()) {
            throw InvalidRequest.of("seed", "seed must be an integer, got " + v);
        }
        return v.asLong();
    }

    private static boolean bool(JsonNode v, String field) {
        if (v == null || v.isNull()) return false;
        if (!v.isBoolean()) throw InvalidRequest.of(field, field + " must be true or false, got " + v);
        return v.asBoolean();
    }
}
