package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.HashMap;
import java.util.Map;

/** Reads what this project needs from a {@code tokenizer.json} beyond encoding: the token → id map. */
final class TokenizerJson {
    private TokenizerJson() {}

    static Map<String, Integer> vocabulary(JsonNode root) {
        Map<String, Integer> vocab = new HashMap<>();
        JsonNode model = root.path("model").path("vocab");
        if (model.isObject()) model.properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        for (JsonNode added : root.path("added_tokens")) vocab.put(added.path("content").asText(), added.path("id").asInt());
        if (vocab.isEmpty()) throw new IllegalArgumentException("no model.vocab and no added_tokens");
        return vocab;
    }
}
