package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** What tokenizer_config.json (and chat_template.jinja, where transformers now saves it) says. */
record TokenizerConfig(String bosToken, String eosToken, Optional<String> chatTemplate) {

    static TokenizerConfig read(Path modelDir) {
        Path file = modelDir.resolve("tokenizer_config.json");
        JsonNode root = Files.isRegularFile(file) ? Tokenizer.readJson(file) : null;
        if (root != null && !root.isObject()) {
            throw new IllegalArgumentException("Cannot parse " + file + ": expected a JSON object");
        }
        String bos = root == null ? null : tokenText(root.get("bos_token"));
        String eos = root == null ? null : tokenText(root.get("eos_token"));
        Optional<String> template = root == null ? Optional.empty() : template(root.get("chat_template"));
        if (template.isEmpty()) {
            template = templateFile(modelDir.resolve("chat_template.jinja"));
        }
        return new TokenizerConfig(bos, eos, template);
    }

    /** bos_token and eos_token are either the token itself or an AddedToken object with content. */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return node.isTextual() ? node.asText() : node.path("content").asText(null);
    }

    /** chat_template is a string, or a list of {name, template} of which "default" is the chat one. */
    private static Optional<String> template(JsonNode node) {
        if (node == null || node.isNull()) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        for (JsonNode named : node) {
            if ("default".equals(named.path("name").asText())) {
                return Optional.of(named.path("template").asText());
            }
        }
        return Optional.empty();
    }

    private static Optional<String> templateFile(Path file) {
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readString(file));
        } catch (IOException e) {
            // MalformedInputException says only "Input length = 1": say what the file should be
            String why = e instanceof CharacterCodingException ? "it is not UTF-8 text" : e.getMessage();
            throw new IllegalArgumentException("Cannot read chat template " + file + ": " + why, e);
        }
    }
}
