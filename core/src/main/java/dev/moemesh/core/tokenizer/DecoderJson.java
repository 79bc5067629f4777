package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/**
 * The decoder of tokenizer.json, checked for JSON that Jackson reads and the native tokenizer's parser (serde_json)
 * does not: tokenizers 0.21 reads the decoder with {@code expect}, so any parse error there is a panic, which aborts
 * the JVM, where elsewhere in the file it is an error.
 */
final class DecoderJson {
    /** serde_json stops at 128 nested arrays and objects, counted from the file's root; real decoders nest 4 deep. */
    private static final int MAX_DEPTH = 100;

    private DecoderJson() {}

    /**
     * Refuses a decoder nested too deep or holding a number no double holds (serde_json: "number out of range",
     * Jackson: infinity).
     *
     * @throws IllegalArgumentException naming the file and what is wrong
     */
    static void check(JsonNode decoder, Path file) {
        check(decoder, 2, file);
    }

    private static void check(JsonNode node, int depth, Path file) {
        if (node.isContainerNode() && depth > MAX_DEPTH) {
            throw refused(file, "it nests more than " + MAX_DEPTH + " levels deep");
        }
        if (node.isNumber() && !Double.isFinite(node.doubleValue())) {
            throw refused(file, "the number " + node + " is out of range");
        }
        for (JsonNode child : node) check(child, depth + 1, file);
    }

    private static IllegalArgumentException refused(Path file, String problem) {
        return new IllegalArgumentException("Cannot load tokenizer " + file + ": decoder: " + problem);
    }
}
