package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a small byte-level BPE tokenizer in Hugging Face's layout (tokenizer.json +
 * tokenizer_config.json), as DeepSeek ships theirs, for test checkpoints.
 *
 * <p>Ids: 0 {@value #BOS}, 1 {@value #EOS}, 2 {@value #USER}, 3 {@value #ASSISTANT}, 4..259 the
 * 256 byte symbols in byte order, then the merged tokens learned from an embedded English text.
 */
public final class TokenizerWriter {

    public static final String BOS = "<｜begin▁of▁sentence｜>";
    public static final String EOS = "<｜end▁of▁sentence｜>";
    public static final String USER = "<｜User｜>";
    public static final String ASSISTANT = "<｜Assistant｜>";

    /** Specials plus the byte alphabet plus at least a few merges. */
    public static final int MIN_VOCAB_SIZE = 300;

    /** Merge training on the embedded text runs out of pairs at 2,535 tokens; this leaves a margin. */
    public static final int MAX_VOCAB_SIZE = 2_048;

    private static final List<String> SPECIALS = List.of(BOS, EOS, USER, ASSISTANT);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TokenizerWriter() {}

    /** Writes dir/tokenizer.json and dir/tokenizer_config.json with exactly vocabSize tokens. */
    public static void write(Path dir, int vocabSize) {
        if (vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
            throw new IllegalArgumentException(
                    "vocabSize " + vocabSize + " is outside the supported " + MIN_VOCAB_SIZE + ".." + MAX_VOCAB_SIZE);
        }
        List<String> alphabet = new ArrayList<>(SPECIALS);
        for (int b = 0; b < 256; b++) {
            alphabet.add(ByteLevelAlphabet.symbol(b));
        }
        BytePairTrainer.Result trained =
                BytePairTrainer.train(resource("bpe-training-text.txt"), alphabet, vocabSize - alphabet.size());
        List<String> tokens = new ArrayList<>(alphabet);
        tokens.addAll(trained.tokens());
        try {
            Files.createDirectories(dir);
            JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson(tokens, trained.merges()));
            JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tokenizerConfig());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write tokenizer files to " + dir, e);
        }
    }

    private static Map<String, Object> tokenizerJson(List<String> tokens, List<BytePairTrainer.Merge> merges) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            vocab.put(tokens.get(id), id);
        }
        List<Map<String, Object>> addedTokens = new ArrayList<>();
        for (int id = 0; id < SPECIALS.size(); id++) {
            addedTokens.add(
                    ordered(
                            "id", id, "content", SPECIALS.get(id), "single_word", false, "lstrip", false,
                            "rstrip", false, "normalized", false, "special", true));
        }
        Map<String, Object> model =
                ordered(
                        "type", "BPE", "dropout", null, "unk_token", null, "continuing_subword_prefix", null,
                        "end_of_word_suffix", null, "fuse_unk", false, "byte_fallback", false, "ignore_merges", false,
                        "vocab", vocab,
                        "merges", merges.stream().map(m -> List.of(m.left(), m.right())).toList());
        return ordered(
                "version", "1.0",
                "truncation", null,
                "padding", null,
                "added_tokens", addedTokens,
                "normalizer", null,
                "pre_tokenizer",
                        ordered("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", true),
                "post_processor", bosTemplate(),
                "decoder",
                        ordered("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex", true),
                "model", model);
    }

    /** DeepSeek's post-processor: BOS before each sequence, nothing after. */
    private static Map<String, Object> bosTemplate() {
        Map<String, Object> bosPiece = Map.of("SpecialToken", Map.of("id", BOS, "type_id", 0));
        Map<String, Object> bosPieceB = Map.of("SpecialToken", Map.of("id", BOS, "type_id", 1));
        return ordered(
                "type", "TemplateProcessing",
                "single", List.of(bosPiece, Map.of("Sequence", Map.of("id", "A", "type_id", 0))),
                "pair",
                        List.of(
                                bosPiece,
                                Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                                bosPieceB,
                                Map.of("Sequence", Map.of("id", "B", "type_id", 1))),
                "special_tokens", Map.of(BOS, Map.of("id", BOS, "ids", List.of(0), "tokens", List.of(BOS))));
    }

    private static Map<String, Object> tokenizerConfig() {
        return ordered(
                "add_bos_token", true,
                "add_eos_token", false,
                "bos_token", addedToken(BOS),
                "clean_up_tokenization_spaces", false,
                "eos_token", addedToken(EOS),
                "legacy", true,
                "model_max_length", 16384,
                "pad_token", addedToken(EOS),
                "sp_model_kwargs", Map.of(),
                "unk_token", null,
                "tokenizer_class", "LlamaTokenizerFast",
                "chat_template", resource("deepseek-v3-chat-template.jinja").strip());
    }

    private static Map<String, Object> addedToken(String content) {
        return ordered(
                "__type", "AddedToken", "content", content, "lstrip", false, "normalized", true,
                "rstrip", false, "single_word", false);
    }

    /** A JSON object whose keys keep the order given, as HF's own files do; values may be null. */
    private static Map<String, Object> ordered(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    private static String resource(String name) {
        try (InputStream in = TokenizerWriter.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("Resource " + name + " is missing from the core jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read resource " + name, e);
        }
    }
}
