package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A BPE model's merges, checked before the native tokenizer builds the model: with a continuing_subword_prefix it
 * cuts that many bytes off each merge's right side (tokenizers 0.21), and a right side shorter than the prefix, or cut
 * inside a character, is a panic, which aborts the JVM.
 */
final class BpeMerges {
    private BpeMerges() {}

    /** @throws IllegalArgumentException naming the file and the merge */
    static void check(JsonNode model, Path file) {
        JsonNode prefix = model.path("continuing_subword_prefix");
        if (!prefix.isTextual() || prefix.textValue().isEmpty()) return;
        int cut = prefix.textValue().getBytes(StandardCharsets.UTF_8).length;
        for (JsonNode merge : model.path("merges")) {
            // "left right" (before tokenizers 0.20) or ["left", "right"]
            String right = merge.isTextual() ? merge.textValue().substring(merge.textValue().indexOf(' ') + 1)
                    : merge.path(1).asText();
            byte[] bytes = right.getBytes(StandardCharsets.UTF_8);
            if (bytes.length < cut || bytes.length > cut && (bytes[cut] & 0xC0) == 0x80) {
                throw new IllegalArgumentException("Cannot load tokenizer " + file + ": the merge " + merge
                        + " has a right side shorter than its continuing_subword_prefix " + prefix
                        + ", or one whose first " + cut + " bytes end inside a character");
            }
        }
    }
}
