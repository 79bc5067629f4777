package dev.moemesh.orchestrator.ingest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a record of {@code inference.requests} into an {@link InferenceRequest}, or says in one line which field is
 * wrong and why ({@code docs/schemas/inference-request.schema.json} is the same rules as a JSON Schema).
 */
public final class RequestParser {
    /** The longest request id accepted; ids are Kafka keys and appear in every event. */
    public static final int MAX_ID_LENGTH = 256;
    /** The most {@code stop} strings a request may give (as OpenAI's API). */
    public static final int MAX_STOP_STRINGS = 4;
    private static final Set<String> FIELDS = Set.of("id", "prompt", "prompt_token_ids", "messages", "max_tokens",
            "temperature", "top_p", "top_k", "seed", "stop_token_ids", "stop", "ignore_eos", "stream", "reply_topic",
            "logprobs", "top_logprobs");
    /** A legal Kafka topic name. */
    private static final Pattern TOPIC_NAME = Pattern.compile("[a-zA-Z0-9._-]{1,249}");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Optional<Pattern> replyTopics;

    /** A parser of requests that may not name a {@code reply_topic}. */
    public RequestParser() {
        this(Optional.empty());
    }

    /** @param replyTopics the pattern a {@code reply_topic}'s whole name must match; empty: none may be named */
    public RequestParser(Optional<Pattern> replyTopics) {
        this.replyTopics = replyTopics;
    }

    /**
     * @param key   the record's key (may be null); when set it must equal the id
     * @param value the record's value: a JSON object
     */
    public InferenceRequest parse(byte[] key, byte[] value) throws InvalidRequestException {
        if (value == null) {
            throw new InvalidRequestException("the record has no value (a tombstone); expected a JSON object");
        }
        JsonNode root;
        try {
            root = JSON.readTree(value);
        } catch (JsonProcessingException e) {
            throw new InvalidRequestException("not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new InvalidRequestException("not JSON: " + e.getMessage());
        }
        if (!(root instanceof ObjectNode o)) {
            throw new InvalidRequestException("expected a JSON object, got "
                    + (root == null ? "nothing" : root.getNodeType()));
        }
        for (Iterator<String> names = o.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!FIELDS.contains(name)) {
                throw new InvalidRequestException("unknown field '" + name + "' (known: " + String.join(", ",
                        FIELDS.stream().sorted().toList()) + ")");
            }
        }
        String id = id(o, key);
        Optional<int[]> ids = o.has("prompt_token_ids")
                ? Optional.of(tokenIds(o, "prompt_token_ids", true)) : Optional.empty();
        Optional<String> prompt = o.has("prompt") ? Optional.of(text(o, "prompt")) : Optional.empty();
        Optional<List<ChatMessage>> messages = o.has("messages") ? Optional.of(messages(o)) : Optional.empty();
        if ((ids.isPresent() ? 1 : 0) + (prompt.isPresent() ? 1 : 0) + (messages.isPresent() ? 1 : 0) != 1) {
            throw new InvalidRequestException("request " + id + ": give exactly one of 'prompt', 'prompt_token_ids' and"
                    + " 'messages'");
        }
        int maxTokens = (int) integer(o, "max_tokens", 16, 1, 1_000_000);
        float temperature = (float) number(o, "temperature", 0, 0, Float.MAX_VALUE, true);
        float topP = (float) number(o, "top_p", 1, 0, 1, false);
        int topK = (int) integer(o, "top_k", 0, 0, Integer.MAX_VALUE);
        long seed = integer(o, "seed", 0, 0, Long.MAX_VALUE);
        int[] stops = o.has("stop_token_ids") ? tokenIds(o, "stop_token_ids", false) : new int[0];
        return new InferenceRequest(id, ids, prompt, messages, maxTokens, temperature, topP, topK, seed, stops,
                stopStrings(o), bool(o, "ignore_eos"), bool(o, "stream"), replyTopic(o), logprobs(o));
    }

    /**
     * {@code logprobs: true} with {@code top_logprobs} (0 to {@value SamplingParams#MAX_LOGPROBS}) alternatives, as
     * the REST door's chat completions read them: {@link SamplingParams#NO_LOGPROBS} unless asked.
     */
    private static int logprobs(ObjectNode o) throws InvalidRequestException {
        boolean asked = bool(o, "logprobs");
        JsonNode top = o.get("top_logprobs");
        if (top == null || top.isNull()) return asked ? 0 : SamplingParams.NO_LOGPROBS;
        int k = (int) integer(o, "top_logprobs", 0, 0, SamplingParams.MAX_LOGPROBS);
        if (!asked) throw new InvalidRequestException("field 'top_logprobs' needs logprobs: true");
        return k;
    }

    private static String id(ObjectNode o, byte[] key) throws InvalidRequestException {
        JsonNode id = o.get("id");
        if (id == null || !id.isTextual() || id.asText().isEmpty()) {
            throw new InvalidRequestException("field 'id' is required: a non-empty string");
        }
        String s = id.asText();
        if (s.length() > MAX_ID_LENGTH) {
            throw new InvalidRequestException("field 'id' is " + s.length() + " characters long; at most " + MAX_ID_LENGTH);
        }
        if (key != null && !s.equals(new String(key, StandardCharsets.UTF_8))) {
            throw new InvalidRequestException("request " + s + ": the record key '" + new String(key, StandardCharsets.UTF_8)
                    + "' differs from field 'id'; key the record by its id (or send no key)");
        }
        return s;
    }

    private static String text(ObjectNode o, String field) throws InvalidRequestException {
        JsonNode n = o.get(field);
        if (!n.isTextual() || n.asText().isEmpty()) {
            throw new InvalidRequestException("field '" + field + "' must be a non-empty string");
        }
        return n.asText();
    }

    private Optional<String> replyTopic(ObjectNode o) throws InvalidRequestException {
        JsonNode n = o.get("reply_topic");
        if (n == null || n.isNull()) return Optional.empty();
        if (!n.isTextual() || !TOPIC_NAME.matcher(n.asText()).matches()) {
            throw new InvalidRequestException("field 'reply_topic' must be a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _"
                    + " -), got " + n);
        }
        String topic = n.asText();
        if (replyTopics.isEmpty()) {
            throw new InvalidRequestException("field 'reply_topic' is refused: this orchestrator takes no reply topics"
                    + " (orchestrator.reply-topic-pattern is not set); read inference.responses");
        }
        if (!replyTopics.get().matcher(topic).matches()) {
            throw new InvalidRequestException("field 'reply_topic' '" + topic + "' does not match"
                    + " orchestrator.reply-topic-pattern '" + replyTopics.get().pattern() + "'");
        }
        return Optional.of(topic);
    }

    /** A non-empty array of {@code {"role": string, "content": string}}, as OpenAI's chat API (text content only). */
    private static List<ChatMessage> messages(ObjectNode o) throws InvalidRequestException {
        JsonNode n = o.get("messages");
        if (!n.isArray() || n.isEmpty()) {
            throw new InvalidRequestException("field 'messages' must be a non-empty array of {role, content}");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            JsonNode m = n.get(i);
            if (!m.isObject() || !m.path("role").isTextual() || m.path("role").asText().isEmpty()) {
                throw new InvalidRequestException("field 'messages'[" + i + "] must be an object with a non-empty string"
                        + " 'role'");
            }
            if (!m.path("content").isTextual()) {
                throw new InvalidRequestException("field 'messages'[" + i + "].content must be a string");
            }
            out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return List.copyOf(out);
    }

    /** A string or an array of 1 to {@value #MAX_STOP_STRINGS} strings, none empty; absent or null: none. */
    private static List<String> stopStrings(ObjectNode o) throws InvalidRequestException {
        JsonNode n = o.get("stop");
        if (n == null || n.isNull()) return List.of();
        List<JsonNode> items = new ArrayList<>();
        if (n.isArray()) n.forEach(items::add);
        else items.add(n);
        if (items.isEmpty() || items.size() > MAX_STOP_STRINGS) {
            throw new InvalidRequestException("field 'stop' must be a string or an array of 1 to " + MAX_STOP_STRINGS
                    + " strings, got " + n);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode s : items) {
            if (!s.isTextual() || s.asText().isEmpty()) {
                throw new InvalidRequestException("field 'stop' must hold non-empty strings, got " + s);
            }
            out.add(s.asText());
        }
        return List.copyOf(out);
    }

    private static int[] tokenIds(ObjectNode o, String field, boolean nonEmpty) throws InvalidRequestException {
        JsonNode n = o.get(field);
        if (!n.isArray() || (nonEmpty && n.isEmpty())) {
            throw new InvalidRequestException("field '" + field + "' must be a" + (nonEmpty ? " non-empty" : "n")
                    + " array of token ids");
        }
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode t = n.get(i);
            if (!t.canConvertToInt() || !t.isIntegralNumber() || t.intValue() < 0) {
                throw new InvalidRequestException("field '" + field + "'[" + i
                        + "] must be a token id (an integer >= 0), got " + t);
            }
            out[i] = t.intValue();
        }
        return out;
    }

    private static long integer(ObjectNode o, String field, long absent, long min, long max) throws InvalidRequestException {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) return absent;
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < min || n.longValue() > max) {
            throw new InvalidRequestException("field '" + field + "' must be an integer in [" + min + ", " + max
                    + "], got " + n);
        }
        return n.longValue();
    }

    private static double number(ObjectNode o, String field, double absent, double min, double max, boolean minIncluded)
            throws InvalidRequestException {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) return absent;
        double v = n.asDouble();
        if (!n.isNumber() || v > max || v < min || (!minIncluded && v == min)) {
            throw new InvalidRequestException("field '" + field + "' must be a number in " + (minIncluded ? "[" : "(")
                    + min + ", " + (max == Float.MAX_VALUE ? "inf)" : max + "]") + ", got " + n);
        }
        return v;
    }

    private static boolean bool(ObjectNode o, String field) throws InvalidRequestException {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) return false;
        if (!n.isBoolean()) throw new InvalidRequestException("field '" + field + "' must be true or false, got " + n);
        return n.booleanValue();
    }
}
