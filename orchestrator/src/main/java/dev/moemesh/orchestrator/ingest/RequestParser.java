package dev.moemesh.orchestrator.ingest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Optional;
import java.util.Set;

/**
 * Reads a record of {@code inference.requests} into an {@link InferenceRequest}, or says in one line which field is
 * wrong and why ({@code docs/schemas/inference-request.schema.json} is the same rules as a JSON Schema).
 */
public final class RequestParser {
    /** The longest request id accepted; ids are Kafka keys and appear in every event. */
    public static final int MAX_ID_LENGTH = 256;
    private static final Set<String> FIELDS = Set.of("id", "prompt", "prompt_token_ids", "max_tokens", "temperature",
            "top_p", "top_k", "seed", "stop_token_ids", "ignore_eos", "stream");
    private static final ObjectMapper JSON = new ObjectMapper();

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
        if (ids.isPresent() == prompt.isPresent()) {
            throw new InvalidRequestException("request " + id + ": give exactly one of 'prompt' and 'prompt_token_ids'");
        }
        int maxTokens = (int) integer(o, "max_tokens", 16, 1, 1_000_000);
        float temperature = (float) number(o, "temperature", 0, 0, Float.MAX_VALUE, true);
        float topP = (float) number(o, "top_p", 1, 0, 1, false);
        int topK = (int) integer(o, "top_k", 0, 0, Integer.MAX_VALUE);
        long seed = integer(o, "seed", 0, 0, Long.MAX_VALUE);
        int[] stops = o.has("stop_token_ids") ? tokenIds(o, "stop_token_ids", false) : new int[0];
        return new InferenceRequest(id, ids, prompt, maxTokens, temperature, topP, topK, seed, stops,
                bool(o, "ignore_eos"), bool(o, "stream"));
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
