package dev.moemesh.core.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A model's Hugging Face tokenizer ({@code tokenizer.json}, run by the Rust {@code tokenizers} library through
 * DJL, so ids match Python's exactly) and what {@code tokenizer_config.json} says about special tokens and the
 * chat template.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        // DJL must never reach for the network: the native library comes from its own jar
        System.setProperty("DJL_OFFLINE", "true");
        System.setProperty("offline", "true");
    }

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> vocab;
    private final String bosToken;
    private final String eosToken;
    private final ChatTemplate chatTemplate;

    private Tokenizer(HuggingFaceTokenizer tokenizer, Map<String, Integer> vocab, String bosToken, String eosToken,
                      ChatTemplate chatTemplate) {
        this.tokenizer = tokenizer;
        this.vocab = vocab;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.chatTemplate = chatTemplate;
    }

    /** The tokenizer of {@code modelDir}, or empty when it has no {@code tokenizer.json}. */
    public static Optional<Tokenizer> load(Path modelDir) {
        Path file = modelDir.resolve("tokenizer.json");
        if (!Files.exists(file)) return Optional.empty();
        ObjectMapper json = new ObjectMapper();
        Map<String, Integer> vocab;
        HuggingFaceTokenizer hf;
        try {
            vocab = TokenizerJson.vocabulary(json.readTree(file.toFile()));
            hf = HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "true", "truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a usable tokenizer: " + e.getMessage(), e);
        }
        String bos = null, eos = null;
        ChatTemplate template = null;
        Path configFile = modelDir.resolve("tokenizer_config.json");
        if (Files.exists(configFile)) {
            try {
                JsonNode config = json.readTree(configFile.toFile());
                bos = tokenText(config.get("bos_token"));
                eos = tokenText(config.get("eos_token"));
                String source = templateSource(config.get("chat_template"));
                if (source != null) template = new ChatTemplate(source, bos, eos);
            } catch (IOException e) {
                hf.close();
                throw new IllegalArgumentException(configFile + " is not valid JSON: " + e.getMessage(), e);
            }
        }
        return Optional.of(new Tokenizer(hf, vocab, bos, eos, template));
    }

    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) return null;
        return node.isTextual() ? node.asText() : node.path("content").asText(null);
    }

    private static String templateSource(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (node.isTextual()) return node.asText();
        for (JsonNode named : node) {
            if ("default".equals(named.path("name").asText())) return named.path("template").asText();
        }
        return null;
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} applies the tokenizer's post-processor (DeepSeek: BOS first). */
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) wide[i] = ids[i];
        return tokenizer.decode(wide, skipSpecialTokens);
    }

    /** Entries in the vocabulary, added tokens included. */
    public int vocabSize() {
        return vocab.size();
    }

    public OptionalInt tokenId(String token) {
        Integer id = token == null ? null : vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    public OptionalInt bosId() {
        return tokenId(bosToken);
    }

    public OptionalInt eosId() {
        return tokenId(eosToken);
    }

    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
