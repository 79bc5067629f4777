package dev.moemesh.core.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A model's Hugging Face tokenizer (tokenizer.json) plus what tokenizer_config.json says about
 * special tokens and the chat template.
 *
 * <p>Encoding runs in DJL's bundled Rust tokenizers library, which DJL extracts on first use to
 * {@code ~/.djl.ai/tokenizers/} (set {@code DJL_CACHE_DIR} to move it). DJL is put in offline mode,
 * so it never downloads a library nor phones home.
 */
public final class Tokenizer implements AutoCloseable {

    static {
        // DJL otherwise pings EC2 metadata and a telemetry bucket on every tokenizer it creates
        System.setProperty("ai.djl.offline", "true");
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * tokenizer.json is read twice, here and by the native tokenizer, and the checks below hold only if both read the
     * same document: a key written twice is taken last by Jackson and first by the native reader (whose first value
     * can panic, aborting the JVM, while Jackson saw a harmless second), so it is refused.
     */
    private static final ObjectReader NATIVE_SAFE = JSON.reader().with(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> vocab; // token -> id, model vocab and added tokens
    private final int[] special; // sorted ids of the added tokens marked special: what decoding may skip
    private final OptionalInt bosId;
    private final OptionalInt eosId;
    private final Optional<ChatTemplate> chatTemplate;

    private Tokenizer(
            HuggingFaceTokenizer tokenizer,
            Map<String, Integer> vocab,
            int[] special,
            OptionalInt bosId,
            OptionalInt eosId,
            Optional<ChatTemplate> chatTemplate) {
        this.tokenizer = tokenizer;
        this.vocab = vocab;
        this.special = special;
        this.bosId = bosId;
        this.eosId = eosId;
        this.chatTemplate = chatTemplate;
    }

    /**
     * Loads modelDir/tokenizer.json and, when present, modelDir/tokenizer_config.json.
     *
     * @return empty when the directory has no tokenizer.json
     * @throws IllegalArgumentException when either file cannot be read or parsed, naming the file
     */
    public static Optional<Tokenizer> load(Path modelDir) {
        Path file = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        JsonNode json = readJson(file, NATIVE_SAFE);
        Map<String, Integer> vocab = vocabulary(json, file);
        // what the native tokenizer would panic on (a panic aborts the JVM) or fail every text with, refused first
        checkUnknownToken(json.path("model"), file);
        BpeMerges.check(json.path("model"), file);
        PrecompiledCharsmap.checkNormalizer(json.path("normalizer"), file);
        TemplatePostProcessor.check(json.path("post_processor"), file);
        DecoderJson.check(json.path("decoder"), file);
        TokenizerConfig config = TokenizerConfig.read(modelDir);
        HuggingFaceTokenizer tokenizer;
        try {
            // per-call encode arguments decide about special tokens; no truncation or padding, ever
            tokenizer =
                    HuggingFaceTokenizer.newInstance(
                            file, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("Cannot load tokenizer " + file + ": " + e.getMessage(), e);
        }
        int[] special;
        try {
            special = specialIds(tokenizer, json, file);
            checkPostProcessor(tokenizer, vocab, file);
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e instanceof IllegalArgumentException refused ? refused
                    : new IllegalArgumentException("Cannot load tokenizer " + file + ": " + e.getMessage(), e);
        }
        Optional<ChatTemplate> template =
                config.chatTemplate().map(source -> new ChatTemplate(source, config.bosToken(), config.eosToken()));
        return Optional.of(
                new Tokenizer(
                        tokenizer,
                        vocab,
                        special,
                        idOf(vocab, config.bosToken()),
                        idOf(vocab, config.eosToken()),
                        template));
    }

    /** Token ids of text; with addSpecialTokens the tokenizer's post-processor adds BOS (and the like). */
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            wide[i] = ids[i];
        }
        return tokenizer.decode(wide, skipSpecialTokens);
    }

    /** Whether {@code id} is a special token: one that {@code decode} with {@code skipSpecialTokens} leaves out. */
    public boolean isSpecial(int id) {
        return Arrays.binarySearch(special, id) >= 0;
    }

    /** Distinct tokens, added tokens included (the model's embedding may be padded beyond this). */
    public int vocabSize() {
        return vocab.size();
    }

    public OptionalInt tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    public OptionalInt bosId() {
        return bosId;
    }

    public OptionalInt eosId() {
        return eosId;
    }

    public Optional<ChatTemplate> chatTemplate() {
        return chatTemplate;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    static JsonNode readJson(Path file) {
        return readJson(file, JSON.reader());
    }

    private static JsonNode readJson(Path file, ObjectReader reader) {
        try (var in = Files.newInputStream(file)) {
            return reader.readTree(in);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw new IllegalArgumentException(
                    "Cannot parse " + file + ": " + e.getOriginalMessage() + where, e);
        } catch (IOException e) {
            throw new IllegalArgumentException("Cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Every token's id, model.vocab's and added_tokens'. Two tokens with one id are refused: the native tokenizer
     * keeps one of them for decoding while {@link #isSpecial} and {@link #tokenId} may answer for the other (a
     * special token sharing its id with a byte decoded to that byte with special tokens skipped).
     */
    private static Map<String, Integer> vocabulary(JsonNode root, Path file) {
        JsonNode modelVocab = root.path("model").path("vocab");
        Map<String, Integer> vocab = new HashMap<>();
        Map<Integer, String> tokens = new HashMap<>();
        if (modelVocab.isObject()) {
            modelVocab.properties().forEach(e -> {
                int id = id(e.getValue(), e.getKey(), file);
                vocab.put(e.getKey(), id);
                oneTokenAnId(tokens, id, e.getKey(), "model.vocab", file);
            });
        } else if (modelVocab.isArray()) {
            // Unigram models list [piece, score] pairs; the position is the id
            for (int id = 0; id < modelVocab.size(); id++) {
                String piece = modelVocab.get(id).path(0).asText();
                vocab.put(piece, id);
                tokens.put(id, piece);
            }
        } else {
            throw new IllegalArgumentException(
                    "Cannot load tokenizer " + file + ": it has no model.vocab (model type "
                            + root.path("model").path("type").asText("missing") + ")");
        }
        for (JsonNode added : root.path("added_tokens")) {
            String content = added.path("content").asText();
            int id = id(added.path("id"), content, file);
            vocab.put(content, id);
            oneTokenAnId(tokens, id, content, "added_tokens", file);
        }
        return vocab;
    }

    private static void oneTokenAnId(Map<Integer, String> tokens, int id, String token, String where, Path file) {
        String other = tokens.putIfAbsent(id, token);
        if (other != null && !other.equals(token)) {
            throw new IllegalArgumentException("Cannot load tokenizer " + file + ": tokens '" + other + "' and '"
                    + token + "' (" + where + ") both have id " + id + ": an id names one token");
        }
    }

    /**
     * The model's unknown token, where it has one, must be in model.vocab: the native tokenizer loads without it and
     * then fails every text with a word or character it does not know. WordPiece and WordLevel have one by default.
     * A Unigram model must have one (its unk_id): without, the native tokenizer loads and then fails every text with
     * a character none of its pieces covers, byte fallback or not (it asks for the unk_id first).
     */
    private static void checkUnknownToken(JsonNode model, Path file) {
        String unknown = switch (model.path("type").asText()) {
            case "WordPiece" -> model.path("unk_token").asText("[UNK]");
            case "WordLevel" -> model.path("unk_token").asText("<unk>");
            case "Unigram" -> {
                if (model.path("unk_id").isNull() || model.path("unk_id").isMissingNode()) {
                    throw new IllegalArgumentException("Cannot load tokenizer " + file + ": its Unigram model has no"
                            + " unk_id, so every text with a character none of its pieces covers would fail to encode:"
                            + " give the unknown piece's position in model.vocab as model.unk_id");
                }
                yield null; // the unk_id's range the native tokenizer checks itself
            }
            default -> model.path("unk_token").textValue();
        };
        if (unknown != null && !model.path("vocab").has(unknown)) {
            throw new IllegalArgumentException("Cannot load tokenizer " + file + ": its model's unk_token '" + unknown
                    + "' is not in model.vocab");
        }
    }

    /** A token's id as the file gives it: the native tokenizer takes any u32, the mesh's token ids are ints. */
    private static int id(JsonNode id, String token, Path file) {
        if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < 0) {
            throw new IllegalArgumentException("Cannot load tokenizer " + file + ": token '" + token + "' has id " + id
                    + ", not a whole number from 0 to " + Integer.MAX_VALUE);
        }
        return id.intValue();
    }

    /**
     * The sorted ids of the added tokens marked special, each checked against the id the native tokenizer gives its
     * content: it takes an added token's id from model.vocab, or the next free one, whatever added_tokens says (and
     * only warns), while isSpecial and tokenId answer from the file.
     */
    private static int[] specialIds(HuggingFaceTokenizer tokenizer, JsonNode root, Path file) {
        List<Integer> special = new ArrayList<>();
        for (JsonNode added : root.path("added_tokens")) {
            String content = added.path("content").asText();
            int id = added.path("id").intValue();
            boolean isSpecial = added.path("special").asBoolean(false);
            long[] given = tokenizer.encode(content, false, false).getIds();
            // a token the normalizer or a special token splits cannot be checked; a special one must encode whole
            if (given.length == 1 ? given[0] != id : isSpecial) {
                throw new IllegalArgumentException("Cannot load tokenizer " + file + ": added token '" + content
                        + "' has id " + id + " but encodes as " + Arrays.toString(given)
                        + " (an added token's id is its id in model.vocab, or the next id after the vocabulary)");
            }
            if (isSpecial) special.add(id);
        }
        return special.stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
    }

    /** The ids the post-processor adds (BOS and the like) are the file's tokens: it may name any id. */
    private static void checkPostProcessor(HuggingFaceTokenizer tokenizer, Map<String, Integer> vocab, Path file) {
        for (long id : tokenizer.encode("", true, false).getIds()) {
            if (id > Integer.MAX_VALUE || !vocab.containsValue((int) id)) {
                throw new IllegalArgumentException("Cannot load tokenizer " + file + ": its post_processor adds "
                        + "token id " + id + ", which is neither in model.vocab nor in added_tokens");
            }
        }
    }

    private static OptionalInt idOf(Map<String, Integer> vocab, String token) {
        Integer id = token == null ? null : vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }
}
