package dev.moemesh.core.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checkpoint's tokenizer.json and tokenizer_config.json come from whoever made it: whatever they hold, loading gives
 * a tokenizer that encodes any text into ids the file declares, decodes any id, and whose special tokens are those the
 * native tokenizer treats as special, or an {@link IllegalArgumentException} naming the file; never another exception.
 * The native tokenizer (DJL's Rust library) is invisible to the fuzzer's coverage, so the files are edited as JSON:
 * the small tokenizer {@link TokenizerWriter} makes, changed one structural edit at a time (and raw bytes sometimes).
 * Seeds: src/test/resources/dev/moemesh/core/tokenizer/TokenizerFuzzTestInputs.
 */
class TokenizerFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Raw files are cut here: the written tokenizer is about 20 KB; the native parser takes any size, slowly. */
    private static final int MAX_RAW_BYTES = 1 << 14;
    private static final String[] WORDS = {"type", "vocab", "merges", "added_tokens", "id", "content", "special",
            "normalized", "lstrip", "rstrip", "single_word", "unk_token", "unk_id", "byte_fallback", "fuse_unk",
            "continuing_subword_prefix", "end_of_word_suffix", "max_input_chars_per_word", "dropout", "ignore_merges",
            "pattern", "Regex", "String", "behavior", "invert", "replacement", "prepend_scheme", "split",
            "add_prefix_space", "trim_offsets", "use_regex", "single", "pair", "special_tokens", "ids", "tokens",
            "SpecialToken", "Sequence", "type_id", "normalizers", "pretokenizers", "decoders", "processors", "BPE",
            "WordPiece", "WordLevel", "Unigram", "ByteLevel", "Metaspace", "Split", "Replace", "Strip", "NFC", "NFKC",
            "Lowercase", "Precompiled", "precompiled_charsmap", "TemplateProcessing", "RobertaProcessing",
            "BertProcessing", "bos_token", "eos_token", "chat_template", "name", "default", "template",
            TokenizerWriter.BOS, TokenizerWriter.EOS, TokenizerWriter.USER, "<unk>", "Ġ", "▁", "##", "\u0000", "", " "};
    private static final String[] MODEL_TYPES = {"BPE", "WordPiece", "WordLevel", "Unigram", "NoSuchModel"};
    /** Each section's components as Hugging Face writes them, with parameters the edits then change. */
    private static final List<String> SECTIONS = List.of("normalizer", "pre_tokenizer", "decoder", "post_processor");
    private static final String[][] COMPONENTS = {{
            "{\"type\":\"NFC\"}", "{\"type\":\"NFKD\"}", "{\"type\":\"Lowercase\"}", "{\"type\":\"StripAccents\"}",
            "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false}", "{\"type\":\"Prepend\",\"prepend\":\"▁\"}",
            "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}",
            "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}",
            "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,"
                    + "\"lowercase\":true}",
            "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}",
            "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"}]}"}, {
            "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":false}",
            "{\"type\":\"Whitespace\"}", "{\"type\":\"WhitespaceSplit\"}", "{\"type\":\"BertPreTokenizer\"}",
            "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"always\",\"split\":true}",
            "{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}", "{\"type\":\"Digits\",\"individual_digits\":true}",
            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false}",
            "{\"type\":\"CharDelimiterSplit\",\"delimiter\":\" \"}", "{\"type\":\"UnicodeScripts\"}",
            "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":false},"
                    + "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}"}, {
            "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"always\",\"split\":true}",
            "{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true}", "{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"}",
            "{\"type\":\"CTC\",\"pad_token\":\"<pad>\",\"word_delimiter_token\":\"|\",\"cleanup\":true}",
            "{\"type\":\"ByteFallback\"}", "{\"type\":\"Fuse\"}", "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,"
                    + "\"stop\":0}", "{\"type\":\"Replace\",\"pattern\":{\"String\":\"▁\"},\"content\":\" \"}",
            "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}"}, {
            "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}",
            "{\"type\":\"RobertaProcessing\",\"sep\":[\"" + TokenizerWriter.EOS + "\",1],\"cls\":[\""
                    + TokenizerWriter.BOS + "\",0],\"trim_offsets\":true,\"add_prefix_space\":true}",
            "{\"type\":\"BertProcessing\",\"sep\":[\"" + TokenizerWriter.EOS + "\",1],\"cls\":[\"" + TokenizerWriter.BOS
                    + "\",0]}",
            "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                    + "\"trim_offsets\":false,\"use_regex\":true}]}"}};
    private static final String[] TEMPLATES = {"{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
            "{{ eos_token }}", "{% if", ""};

    private static Path dir;
    private static ObjectNode tokenizer;
    private static ObjectNode config;
    private static String[] tokens;

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"\"type\"", "\"BPE\"", "\"Unigram\"", "\"WordPiece\"", "\"WordLevel\"", "\"vocab\"",
            "\"merges\"", "\"added_tokens\"", "\"id\"", "\"content\"", "\"special\"", "\"unk_token\"",
            "\"post_processor\"", "\"TemplateProcessing\"", "\"special_tokens\"", "\"ids\"", "\"normalizer\"",
            "\"pre_tokenizer\"", "\"decoder\"", "\"Sequence\"", "\"Regex\"", "\"bos_token\"", "\"chat_template\"",
            "4294967295", "2147483648", "-1", "null", "[]", "{}"})
    void tokenizerLoadsIntoIdsItDeclaresOrIsRefusedNamingTheFile(FuzzedDataProvider data) throws IOException {
        if (dir == null) writeTheStartingTokenizer();
        FuzzedJson json = new FuzzedJson(data, WORDS);
        Path tokenizerFile = dir.resolve("tokenizer.json");
        Path configFile = dir.resolve("tokenizer_config.json");
        if (data.consumeInt(0, 9) < 9) {
            JsonNode edited = tokenizer.deepCopy();
            for (int i = data.consumeInt(0, 8); i > 0; i--) editTokenizer(data, json, (ObjectNode) edited);
            Files.write(tokenizerFile, json.bytes(edited));
        } else {
            Files.write(tokenizerFile, data.consumeBytes(MAX_RAW_BYTES));
        }
        switch (data.consumeInt(0, 7)) {
            case 6 -> Files.write(configFile, data.consumeBytes(MAX_RAW_BYTES));
            case 7 -> Files.deleteIfExists(configFile);
            default -> {
                JsonNode edited = config.deepCopy();
                for (int i = data.consumeInt(0, 3); i > 0; i--) editConfig(data, json, (ObjectNode) edited);
                Files.write(configFile, json.bytes(edited));
            }
        }
        String text = data.consumeString(48) + (data.consumeBoolean() ? data.pickValue(tokens) : "")
                + data.consumeString(16);
        int anyId = data.consumeInt(0, Integer.MAX_VALUE);
        // read where tokenizer_config.json has no chat_template
        Path templateFile = dir.resolve("chat_template.jinja");
        if (data.consumeInt(0, 3) == 3) {
            Files.write(templateFile, data.consumeBytes(256));
        } else {
            Files.deleteIfExists(templateFile);
        }

        Tokenizer loaded;
        try {
            loaded = Tokenizer.load(dir).orElseThrow();
        } catch (IllegalArgumentException refused) {
            String message = refused.getMessage();
            assertTrue(message.contains(tokenizerFile.toString()) || message.contains(configFile.toString())
                    || message.contains(templateFile.toString()), "names no file: " + refused);
            return;
        }
        try (loaded) {
            JsonNode written = JSON.readTree(tokenizerFile.toFile());
            Set<Long> declared = declaredIds(written);
            for (boolean addSpecialTokens : new boolean[] {false, true}) {
                int[] ids = loaded.encode(text, addSpecialTokens);
                for (int id : ids) {
                    assertTrue(declared.contains((long) id), "id " + id + " of '" + text + "' is not in the file");
                }
                loaded.decode(ids, false);
                loaded.decode(ids, true);
            }
            // a model's embedding may be wider than its tokenizer: a generation may hold any id, declared or not
            loaded.decode(new int[] {anyId}, false);
            loaded.isSpecial(anyId);
            for (JsonNode added : written.path("added_tokens")) {
                String content = added.path("content").asText("");
                int id = loaded.tokenId(content).orElse(-1);
                if (!content.isEmpty() && loaded.isSpecial(id)) {
                    assertArrayEquals(new int[] {id}, loaded.encode(content, false), "special token '" + content + "'");
                    assertEquals("", loaded.decode(new int[] {id}, true), "special token '" + content + "'");
                }
            }
        }
    }

    private static void editTokenizer(FuzzedDataProvider data, FuzzedJson json, ObjectNode root) {
        ObjectNode model = root.path("model") instanceof ObjectNode m ? m : root.putObject("model");
        switch (data.consumeInt(0, 5)) {
            case 0 -> json.editAnywhere(root);
            case 1 -> retype(data, model);
            case 2 -> {
                ArrayNode merges = model.path("merges") instanceof ArrayNode m ? m : model.putArray("merges");
                String left = token(data, json);
                String right = token(data, json);
                if (data.consumeBoolean()) {
                    merges.add(left + " " + right); // the format before tokenizers 0.20
                } else {
                    merges.addArray().add(left).add(right);
                }
            }
            case 3 -> {
                ArrayNode added = root.path("added_tokens") instanceof ArrayNode a ? a : root.putArray("added_tokens");
                ObjectNode token = added.addObject();
                token.set("id", data.consumeBoolean() ? json.edge32()
                        : JsonNodeFactory.instance.numberNode(data.consumeInt(0, tokens.length + 8)));
                token.put("content", token(data, json));
                for (String flag : List.of("single_word", "lstrip", "rstrip", "normalized", "special")) {
                    token.put(flag, data.consumeBoolean());
                }
            }
            case 4 -> {
                int section = data.consumeInt(0, SECTIONS.size() - 1);
                root.set(SECTIONS.get(section), component(data, COMPONENTS[section]));
            }
            default -> {
                if (!(model.path("vocab") instanceof ObjectNode vocab)) return;
                String token = token(data, json);
                if (data.consumeBoolean()) {
                    vocab.set(token, json.edge32());
                } else {
                    json.duplicate(vocab, token, JsonNodeFactory.instance.numberNode(data.consumeInt(0, 320)));
                }
            }
        }
    }

    /** A model of another type over the same vocabulary; Unigram lists [piece, score] pairs by id. */
    private static void retype(FuzzedDataProvider data, ObjectNode model) {
        String type = data.pickValue(MODEL_TYPES);
        model.put("type", type);
        if (type.equals("Unigram") && model.path("vocab").isObject()) {
            ArrayNode pieces = JsonNodeFactory.instance.arrayNode();
            model.path("vocab").properties().forEach(e -> pieces.addArray().add(e.getKey()).add(-e.getValue().asInt()));
            model.set("vocab", pieces);
            model.put("unk_id", data.consumeInt(-1, pieces.size()));
        } else if (!type.equals("BPE")) {
            model.put("unk_token", data.consumeBoolean() ? tokens[data.consumeInt(0, tokens.length - 1)] : "<unk>");
        }
    }

    private static JsonNode component(FuzzedDataProvider data, String[] choices) {
        try {
            JsonNode component = JSON.readTree(data.pickValue(choices));
            if (component.path("type").asText().equals("Precompiled")) {
                ((ObjectNode) component).put("precompiled_charsmap", charsmap(data));
            }
            return component;
        } catch (IOException e) {
            throw new IllegalStateException("a component template is not JSON", e);
        }
    }

    /**
     * The binary table of SentencePiece's normalizer, base64: mostly well framed (trie size, trie units, replacement
     * strings), so that the fuzzer, guided by the coverage of the Java check, reaches tries the native walk reads.
     */
    private static String charsmap(FuzzedDataProvider data) {
        if (data.consumeInt(0, 7) == 0) return Base64.getEncoder().encodeToString(data.consumeBytes(256));
        int units = data.consumeInt(1, 64);
        byte[] normalized = data.consumeString(32).getBytes(StandardCharsets.UTF_8);
        ByteBuffer charsmap = ByteBuffer.allocate(4 + 4 * units + normalized.length).order(ByteOrder.LITTLE_ENDIAN);
        charsmap.putInt(4 * units);
        for (int i = 0; i < units; i++) charsmap.putInt(data.consumeInt());
        charsmap.put(normalized);
        return Base64.getEncoder().encodeToString(charsmap.array());
    }

    private static void editConfig(FuzzedDataProvider data, FuzzedJson json, ObjectNode root) {
        String field = data.pickValue(new String[] {"bos_token", "eos_token", "chat_template"});
        switch (data.consumeInt(0, 3)) {
            case 0 -> json.editAnywhere(root);
            case 1 -> root.put(field, field.equals("chat_template") ? data.pickValue(TEMPLATES) : token(data, json));
            case 2 -> {
                if (field.equals("chat_template")) {
                    ArrayNode named = root.putArray(field);
                    named.addObject().put("name", json.key()).put("template", data.pickValue(TEMPLATES));
                    named.addObject().put("name", "default").set("template", json.value());
                } else {
                    root.putObject(field).put("__type", "AddedToken").set("content", json.value());
                }
            }
            default -> root.set(field, json.value());
        }
    }

    private static String token(FuzzedDataProvider data, FuzzedJson json) {
        return data.consumeBoolean() ? tokens[data.consumeInt(0, tokens.length - 1)] : json.key();
    }

    /** The ids the file gives tokens, read as a reader of the file would: model vocabulary, then added tokens. */
    private static Set<Long> declaredIds(JsonNode root) {
        Set<Long> ids = new HashSet<>();
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            vocab.forEach(id -> ids.add(id.asLong()));
        } else {
            for (long id = 0; id < vocab.size(); id++) ids.add(id);
        }
        root.path("added_tokens").forEach(added -> ids.add(added.path("id").asLong()));
        return ids;
    }

    private static void writeTheStartingTokenizer() throws IOException {
        Path root = Files.createTempDirectory("fuzzed-tokenizer");
        root.toFile().deleteOnExit();
        TokenizerWriter.write(root, TokenizerWriter.MIN_VOCAB_SIZE);
        tokenizer = (ObjectNode) JSON.readTree(root.resolve("tokenizer.json").toFile());
        config = (ObjectNode) JSON.readTree(root.resolve("tokenizer_config.json").toFile());
        tokens = tokenizer.path("model").path("vocab").propertyStream().map(Map.Entry::getKey).toArray(String[]::new);
        dir = root;
    }
}
