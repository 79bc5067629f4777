package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.RuntimeJsonMappingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads Kubernetes YAML (one or more documents) into JSON trees, the form every check here works on. */
final class Yaml {
    static final YAMLMapper MAPPER = new YAMLMapper();

    private Yaml() {
    }

    static List<ObjectNode> objects(Path file) {
        try {
            return objects(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The documents of {@code text}, each a mapping; empty documents are skipped, as kubectl does. */
    static List<ObjectNode> objects(String text, String source) {
        List<ObjectNode> out = new ArrayList<>();
        try (MappingIterator<JsonNode> docs = MAPPER.readerFor(JsonNode.class).readValues(text)) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc == null || doc.isNull() || doc.isMissingNode()) continue;
                if (!doc.isObject()) {
                    throw new IllegalArgumentException(source + ": a document is not a mapping: " + doc);
                }
                out.add((ObjectNode) doc);
            }
        } catch (IOException | RuntimeJsonMappingException e) {
            throw new IllegalArgumentException(source + ": not YAML: " + e.getMessage(), e);
        }
        return out;
    }

    static JsonNode tree(String text, String source) {
        try {
            return MAPPER.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(source + ": not YAML: " + e.getMessage(), e);
        }
    }

    /** {@code apiVersion kind namespace/name}: how kustomize and kubectl tell objects apart. */
    static String id(JsonNode object) {
        JsonNode meta = object.path("metadata");
        String ns = meta.path("namespace").asText("");
        return object.path("apiVersion").asText() + " " + object.path("kind").asText() + " "
                + (ns.isEmpty() ? "" : ns + "/") + meta.path("name").asText();
    }
}
