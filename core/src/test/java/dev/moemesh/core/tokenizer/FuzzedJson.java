package dev.moemesh.core.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BigIntegerNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Structural edits of a JSON document, chosen by the fuzzer's data: a value replaced anywhere in the tree, a key or
 * element deleted, a key written twice; then the document as bytes. Byte-level mutation of a JSON file mostly breaks
 * its syntax; these edits keep it parseable so that what reads it next (here the native tokenizer) sees odd content.
 */
final class FuzzedJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final BigInteger U32_MAX = BigInteger.valueOf(0xFFFF_FFFFL);
    private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final double[] DOUBLES = {0.5, -0.0, -1.5, 1e308, -1e308, 4.9e-324, 1e-7, 3.0};

    private final FuzzedDataProvider data;
    private final String[] words;
    // keys written a second time after an object's own fields, with another value: JSON allows it, parsers differ
    private final Map<ObjectNode, List<Map.Entry<String, JsonNode>>> duplicates = new IdentityHashMap<>();

    /** @param words strings the document's readers know (keys, type names, tokens), tried beside arbitrary ones */
    FuzzedJson(FuzzedDataProvider data, String... words) {
        this.data = data;
        this.words = words;
    }

    /** A value of any JSON kind: strings, numbers at 32- and 64-bit edges, null, arrays, objects, deep nesting. */
    JsonNode value() {
        return value(2);
    }

    private JsonNode value(int depth) {
        return switch (data.consumeInt(0, 9)) {
            case 0 -> TextNode.valueOf(data.consumeString(32));
            case 1 -> TextNode.valueOf(data.pickValue(words));
            case 2 -> edge32();
            case 3 -> edge64();
            case 4 -> DoubleNode.valueOf(data.pickValue(DOUBLES));
            case 5 -> BooleanNode.valueOf(data.consumeBoolean());
            case 6 -> NullNode.getInstance();
            case 7 -> {
                ArrayNode array = JsonNodeFactory.instance.arrayNode();
                for (int i = depth > 0 ? data.consumeInt(0, 3) : 0; i > 0; i--) array.add(value(depth - 1));
                yield array;
            }
            case 8 -> {
                ObjectNode object = JsonNodeFactory.instance.objectNode();
                for (int i = depth > 0 ? data.consumeInt(0, 3) : 0; i > 0; i--) object.set(key(), value(depth - 1));
                yield object;
            }
            default -> nested(data.consumeInt(1, 300));
        };
    }

    /** An integer near where 32-bit fields break: small, around 0, the signed and unsigned limits. */
    JsonNode edge32() {
        int near = data.consumeInt(0, 64);
        return switch (data.consumeInt(0, 4)) {
            case 0 -> IntNode.valueOf(near);
            case 1 -> IntNode.valueOf(-1 - near);
            case 2 -> IntNode.valueOf(Integer.MAX_VALUE - near);
            case 3 -> IntNode.valueOf(Integer.MIN_VALUE + near);
            default -> BigIntegerNode.valueOf(U32_MAX.subtract(BigInteger.valueOf(near - 1))); // u32 max + 1 and below
        };
    }

    private JsonNode edge64() {
        int near = data.consumeInt(0, 64);
        return switch (data.consumeInt(0, 2)) {
            case 0 -> LongNode.valueOf(Long.MAX_VALUE - near);
            case 1 -> LongNode.valueOf(Long.MIN_VALUE + near);
            default -> BigIntegerNode.valueOf(U64_MAX.subtract(BigInteger.valueOf(near - 1))); // u64 max + 1 and below
        };
    }

    private JsonNode nested(int depth) {
        JsonNode node = data.consumeBoolean() ? IntNode.valueOf(0) : TextNode.valueOf(data.pickValue(words));
        boolean arrays = data.consumeBoolean();
        for (int i = 0; i < depth; i++) {
            node = arrays ? JsonNodeFactory.instance.arrayNode().add(node)
                    : JsonNodeFactory.instance.objectNode().set(data.pickValue(words), node);
        }
        return node;
    }

    String key() {
        return data.consumeBoolean() ? data.pickValue(words) : data.consumeString(16);
    }

    /** One edit anywhere below root: a value replaced, a key or an element deleted, a key written twice. */
    void editAnywhere(JsonNode root) {
        JsonNode container = container(root);
        if (container.isEmpty()) return;
        int at = data.consumeInt(0, container.size() - 1);
        switch (data.consumeInt(0, 2)) {
            case 0 -> {
                if (container instanceof ObjectNode object) {
                    object.set(nthKey(object, at), value());
                } else {
                    ((ArrayNode) container).set(at, value());
                }
            }
            case 1 -> {
                if (container instanceof ObjectNode object) {
                    object.remove(nthKey(object, at));
                } else {
                    ((ArrayNode) container).remove(at);
                }
            }
            default -> {
                if (container instanceof ObjectNode object) {
                    duplicate(object, nthKey(object, at), value());
                } else {
                    ((ArrayNode) container).insert(at, container.get(at).deepCopy());
                }
            }
        }
    }

    /** Writes key a second time in object, with this value, after the object's own fields. */
    void duplicate(ObjectNode object, String key, JsonNode value) {
        duplicates.computeIfAbsent(object, o -> new ArrayList<>()).add(Map.entry(key, value));
    }

    /** An object or array at most eight levels below root (deep nesting stays below the writer's limit). */
    private JsonNode container(JsonNode root) {
        JsonNode node = root;
        for (int level = 0; level < 8 && !node.isEmpty() && data.consumeBoolean(); level++) {
            int at = data.consumeInt(0, node.size() - 1);
            JsonNode child = node instanceof ObjectNode object ? object.get(nthKey(object, at)) : node.get(at);
            if (!child.isContainerNode()) break;
            node = child;
        }
        return node;
    }

    private static String nthKey(ObjectNode object, int n) {
        return object.propertyStream().skip(n).findFirst().orElseThrow().getKey();
    }

    /** The document as UTF-8 JSON, duplicated keys included. */
    byte[] bytes(JsonNode root) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator generator = JSON.createGenerator(out)) {
            write(generator, root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private void write(JsonGenerator generator, JsonNode node) throws IOException {
        if (node instanceof ObjectNode object) {
            generator.writeStartObject();
            for (Map.Entry<String, JsonNode> field : object.properties()) {
                generator.writeFieldName(field.getKey());
                write(generator, field.getValue());
            }
            for (Map.Entry<String, JsonNode> field : duplicates.getOrDefault(object, List.of())) {
                generator.writeFieldName(field.getKey());
                write(generator, field.getValue());
            }
            generator.writeEndObject();
        } else if (node instanceof ArrayNode array) {
            generator.writeStartArray();
            for (JsonNode element : array) write(generator, element);
            generator.writeEndArray();
        } else {
            generator.writeTree(node);
        }
    }
}
