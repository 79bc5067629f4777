package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes a small byte-level BPE tokenizer in Hugging Face's layout, shaped like DeepSeek's: {@code tokenizer.json}
 * (ByteLevel pre-tokenizer and decoder, a post-processor that puts BOS first) and {@code tokenizer_config.json}
 * (bos/eos, a DeepSeek-V3-style chat template). Merges are learned deterministically from a built-in English text.
 *
 * <p>Ids: 0 BOS, 1 EOS, 2 {@code <｜User｜>}, 3 {@code <｜Assistant｜>}, 4..259 the 256 bytes, then merges; ids the text
 * cannot fill with merges become reserved placeholder tokens, as DeepSeek's vocabulary has.
 */
public final class TokenizerWriter {
    public static final String BOS = "<｜begin▁of▁sentence｜>";
    public static final String EOS = "<｜end▁of▁sentence｜>";
    public static final String USER = "<｜User｜>";
    public static final String ASSISTANT = "<｜Assistant｜>";
    private static final List<String> SPECIALS = List.of(BOS, EOS, USER, ASSISTANT);
    private static final int MIN_VOCAB = SPECIALS.size() + 256;
    /** GPT-2's pre-tokenization, which the ByteLevel pre-tokenizer applies. */
    private static final Pattern WORDS = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    static final String CHAT_TEMPLATE = """
            {% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}\
            {% set ns = namespace(system_prompt='', is_first_sp=true) %}\
            {% for message in messages %}{% if message['role'] == 'system' %}\
            {% if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}\
            {% set ns.is_first_sp = false %}\
            {% else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{% endif %}\
            {% endif %}{% endfor %}\
            {{ bos_token }}{{ ns.system_prompt }}\
            {% for message in messages %}\
            {% if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}\
            {% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}\
            {% elif message['role'] != 'system' %}{{ raise_exception('unknown role: ' + message['role']) }}\
            {% endif %}{% endfor %}\
            {% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}""";

    private TokenizerWriter() {}

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} with exactly {@code vocabSize} tokens. */
    public static void write(Path dir, int vocabSize) {
        if (vocabSize < MIN_VOCAB) {
            throw new IllegalArgumentException("a byte-level tokenizer needs at least " + MIN_VOCAB + " tokens, asked for " + vocabSize);
        }
        String[] byteSymbol = byteSymbols();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) vocab.put(byteSymbol[b], SPECIALS.size() + b);
        List<String[]> merges = learnMerges(byteSymbol, vocabSize - MIN_VOCAB);
        for (String[] m : merges) vocab.putIfAbsent(m[0] + m[1], SPECIALS.size() + vocab.size());
        List<String> added = new ArrayList<>(SPECIALS);
        for (int id = SPECIALS.size() + vocab.size(); id < vocabSize; id++) {
            added.add("<｜place▁holder▁no▁" + (id - SPECIALS.size() - vocab.size()) + "｜>");
        }
        ObjectMapper json = new ObjectMapper();
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("tokenizer.json"),
                    json.writerWithDefaultPrettyPrinter().writeValueAsString(tokenizerJson(json, vocab, merges, added)));
            Files.writeString(dir.resolve("tokenizer_config.json"),
                    json.writerWithDefaultPrettyPrinter().writeValueAsString(configJson(json)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write tokenizer to " + dir + ": " + e.getMessage(), e);
        }
    }

    private static ObjectNode tokenizerJson(ObjectMapper json, Map<String, Integer> vocab, List<String[]> merges,
                                            List<String> added) {
        ObjectNode root = json.createObjectNode().put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode addedTokens = root.putArray("added_tokens");
        for (int i = 0; i < added.size(); i++) {
            int id = i < SPECIALS.size() ? i : vocab.size() + i;
            addedTokens.addObject().put("id", id).put("content", added.get(i)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").add(special(json, 0)).add(sequence(json, "A", 0));
        post.putArray("pair").add(special(json, 0)).add(sequence(json, "A", 0)).add(special(json, 1)).add(sequence(json, "B", 1));
        ObjectNode bos = post.putObject("special_tokens").putObject(BOS).put("id", BOS);
        bos.putArray("ids").add(0);
        bos.putArray("tokens").add(BOS);
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model").put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false);
        // added tokens sit in the model's vocabulary too, as in DeepSeek's files: tokenizers then keeps their ids
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < SPECIALS.size(); i++) v.put(added.get(i), i);
        vocab.forEach(v::put);
        for (int i = SPECIALS.size(); i < added.size(); i++) v.put(added.get(i), vocab.size() + i);
        ArrayNode m = model.putArray("merges");
        for (String[] pair : merges) m.add(pair[0] + " " + pair[1]);
        return root;
    }

    private static ObjectNode special(ObjectMapper json, int typeId) {
        ObjectNode n = json.createObjectNode();
        n.putObject("SpecialToken").put("id", BOS).put("type_id", typeId);
        return n;
    }

    private static ObjectNode sequence(ObjectMapper json, String id, int typeId) {
        ObjectNode n = json.createObjectNode();
        n.putObject("Sequence").put("id", id).put("type_id", typeId);
        return n;
    }

    private static ObjectNode configJson(ObjectMapper json) {
        ObjectNode c = json.createObjectNode().put("add_bos_token", true).put("add_eos_token", false);
        c.putObject("bos_token").put("__type", "AddedToken").put("content", BOS).put("lstrip", false)
                .put("normalized", true).put("rstrip", false).put("single_word", false);
        c.putObject("eos_token").put("__type", "AddedToken").put("content", EOS).put("lstrip", false)
                .put("normalized", true).put("rstrip", false).put("single_word", false);
        c.put("clean_up_tokenization_spaces", false).put("legacy", true).put("model_max_length", 16384);
        c.putNull("pad_token");
        c.put("sp_model_kwargs", "{}").put("tokenizer_class", "LlamaTokenizerFast").putNull("unk_token");
        c.put("chat_template", CHAT_TEMPLATE);
        return c;
    }

    /** GPT-2's map from bytes to printable characters: printable Latin-1 stays, the rest shifts past 255. */
    static String[] byteSymbols() {
        String[] map = new String[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = new String(Character.toChars(printable ? b : next++));
        }
        return map;
    }

    /** Learns up to {@code count} merges: the most frequent adjacent pair each round, ties to the smaller pair. */
    private static List<String[]> learnMerges(String[] byteSymbol, int count) {
        Map<List<String>, Integer> words = new HashMap<>();
        Matcher m = WORDS.matcher(corpus());
        while (m.find()) {
            List<String> symbols = new ArrayList<>();
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) symbols.add(byteSymbol[b & 0xFF]);
            words.merge(symbols, 1, Integer::sum);
        }
        List<String[]> merges = new ArrayList<>();
        while (merges.size() < count) {
            TreeMap<String, Integer> pairs = new TreeMap<>();
            for (var e : words.entrySet()) {
                List<String> w = e.getKey();
                for (int i = 0; i + 1 < w.size(); i++) pairs.merge(w.get(i) + " " + w.get(i + 1), e.getValue(), Integer::sum);
            }
            if (pairs.isEmpty()) break;
            String best = null;
            for (var e : pairs.entrySet()) if (best == null || e.getValue() > pairs.get(best)) best = e.getKey();
            String[] pair = best.split(" ", 2);
            merges.add(pair);
            Map<List<String>, Integer> merged = new HashMap<>();
            for (var e : words.entrySet()) merged.merge(apply(e.getKey(), pair), e.getValue(), Integer::sum);
            words = merged;
        }
        return merges;
    }

    private static List<String> apply(List<String> word, String[] pair) {
        List<String> out = new ArrayList<>(word.size());
        for (int i = 0; i < word.size(); i++) {
            if (i + 1 < word.size() && word.get(i).equals(pair[0]) && word.get(i + 1).equals(pair[1])) {
                out.add(pair[0] + pair[1]);
                i++;
            } else {
                out.add(word.get(i));
            }
        }
        return out;
    }

    private static String corpus() {
        try (InputStream in = TokenizerWriter.class.getResourceAsStream("corpus.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("the tokenizer corpus is missing from the jar", e);
        }
    }
}
