package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code TemplateProcessing} post-processor of tokenizer.json (BOS and the like around each text), checked before
 * the native tokenizer reads it. Read from a file, the native one (tokenizers 0.21) skips the checks its builder makes
 * and panics while encoding, which aborts the JVM: on a special token the template uses and special_tokens does not
 * declare, and on a single-text template that names the second text.
 */
final class TemplatePostProcessor {
    private TemplatePostProcessor() {}

    /**
     * Refuses a template anywhere in the post-processor (a {@code Sequence} nests them) that the native tokenizer
     * would panic on.
     *
     * @throws IllegalArgumentException naming the file and what is wrong
     */
    static void check(JsonNode postProcessor, Path file) {
        if (postProcessor.has("single") || "TemplateProcessing".equals(postProcessor.path("type").asText())) {
            checkTemplate(postProcessor, file);
        }
        for (JsonNode child : postProcessor) check(child, file);
    }

    private static void checkTemplate(JsonNode processor, Path file) {
        JsonNode declared = processor.path("special_tokens");
        for (String template : List.of("single", "pair")) {
            for (JsonNode piece : processor.path(template)) {
                JsonNode special = piece.path("SpecialToken");
                if (special.isObject() && !declared.has(special.path("id").asText())) {
                    throw refused(file, "the " + template + " template uses special token '"
                            + special.path("id").asText() + "', which special_tokens does not declare");
                }
                if (template.equals("single") && "B".equals(piece.path("Sequence").path("id").asText())) {
                    throw refused(file, "the single template uses sequence B, which a single text does not have");
                }
            }
        }
    }

    private static IllegalArgumentException refused(Path file, String problem) {
        return new IllegalArgumentException("Cannot load tokenizer " + file + ": post_processor: " + problem);
    }
}
