package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenizerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(ints = {TokenizerWriter.MIN_VOCAB_SIZE, 512, 1024, TokenizerWriter.MAX_VOCAB_SIZE})
    void writtenTokenizerHasExactlyTheRequestedVocabulary(int vocabSize) {
        TokenizerWriter.write(dir, vocabSize);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            assertEquals(vocabSize, tokenizer.vocabSize());
            int[] ids = tokenizer.encode("The quick brown fox jumps over the lazy dog, 1024 times.", false);
            assertTrue(Arrays.stream(ids).allMatch(id -> id >= 0 && id < vocabSize), Arrays.toString(ids));
        }
    }

    @Test
    void encodingWithSpecialTokensStartsWithBos() {
        TokenizerWriter.write(dir, 512);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            int[] withSpecials = tokenizer.encode("Hello world", true);
            int[] plain = tokenizer.encode("Hello world", false);

            assertEquals(0, withSpecials[0]);
            assertNotEquals(0, plain[0]);
            assertArrayEquals(plain, Arrays.copyOfRange(withSpecials, 1, withSpecials.length));
        }
    }

    @Test
    void mergesLearnedFromTheTrainingTextShortenCommonWords() {
        TokenizerWriter.write(dir, 1024);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            String text = " the model and the experts";
            assertTrue(tokenizer.encode(text, false).length < text.length(), "no merges were applied");
        }
    }

    @Test
    void decodeInvertsEncodeForAsciiAndNonAsciiText() {
        TokenizerWriter.write(dir, 512);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            for (String text : List.of("Hello world", "naïve café — 東京", "  spaces\tand\nnewlines  ", "🙂 emoji")) {
                assertEquals(text, tokenizer.decode(tokenizer.encode(text, true), true));
            }
        }
    }

    @Test
    void decodeKeepsSpecialTokensUnlessAskedToSkipThem() {
        TokenizerWriter.write(dir, 512);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            int[] ids = tokenizer.encode("Hi", true);

            assertEquals(TokenizerWriter.BOS + "Hi", tokenizer.decode(ids, false));
            assertEquals("Hi", tokenizer.decode(ids, true));
        }
    }

    @Test
    void specialTokensHaveTheDeepSeekIdsAndEncodeAsOneToken() {
        TokenizerWriter.write(dir, 300);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            assertEquals(OptionalInt.of(0), tokenizer.tokenId(TokenizerWriter.BOS));
            assertEquals(OptionalInt.of(1), tokenizer.tokenId(TokenizerWriter.EOS));
            assertEquals(OptionalInt.of(2), tokenizer.tokenId(TokenizerWriter.USER));
            assertEquals(OptionalInt.of(3), tokenizer.tokenId(TokenizerWriter.ASSISTANT));
            assertEquals(OptionalInt.of(0), tokenizer.bosId());
            assertEquals(OptionalInt.of(1), tokenizer.eosId());
            assertEquals(OptionalInt.empty(), tokenizer.tokenId("<not a token>"));
            int[] hi = tokenizer.encode("Hi", false);
            int[] expected = new int[hi.length + 2];
            expected[0] = 2;
            System.arraycopy(hi, 0, expected, 1, hi.length);
            expected[expected.length - 1] = 3;
            assertArrayEquals(expected, tokenizer.encode(TokenizerWriter.USER + "Hi" + TokenizerWriter.ASSISTANT, false));
        }
    }

    @Test
    void chatTemplateFromConfigRendersAPromptThatEncodesWithSpecialTokenIds() {
        TokenizerWriter.write(dir, 512);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            String prompt =
                    tokenizer
                            .chatTemplate()
                            .orElseThrow()
                            .render(List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi")), true);
            int[] ids = tokenizer.encode(prompt, false);

            assertEquals(TokenizerWriter.BOS + "Be brief.<｜User｜>Hi<｜Assistant｜>", prompt);
            assertEquals(0, ids[0]);
            assertEquals(3, ids[ids.length - 1]);
        }
    }

    @Test
    void directoryWithoutTokenizerJsonHasNoTokenizer() {
        assertTrue(Tokenizer.load(dir).isEmpty());
    }

    @Test
    void corruptTokenizerJsonIsRejectedNamingTheFile() throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0");

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
    }

    @Test
    void aKeyWrittenTwiceIsRefusedBeforeTheNativeTokenizerReadsTheFirst() throws IOException {
        // the native reader takes the first normalizer and panics on its empty charsmap (a panic aborts the JVM);
        // Jackson alone would see only the second, harmless one
        TokenizerWriter.write(dir, 300);
        Path file = dir.resolve("tokenizer.json");
        String json = Files.readString(file);
        String first = json.replace("\"normalizer\" : null",
                "\"normalizer\" : {\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}");
        assertNotEquals(json, first);
        Files.writeString(file, first.substring(0, first.lastIndexOf('}')) + ",\"normalizer\":null}");

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
        assertTrue(error.getMessage().contains("Duplicate field 'normalizer'"), error.getMessage());
    }

    @Test
    void twoTokensWithOneIdAreRefused() throws IOException {
        // found by the fuzzer: BOS and the byte 0x0B both id 0; the native tokenizer decoded id 0 as the byte, with
        // special tokens skipped, while isSpecial(0) answered for BOS
        TokenizerWriter.write(dir, 300);
        Path file = dir.resolve("tokenizer.json");
        String json = Files.readString(file);
        String clash = json.replace("\"ċ\" : 15", "\"ċ\" : 0");
        assertNotEquals(json, clash);
        Files.writeString(file, clash);

        IllegalArgumentException inVocab = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(inVocab.getMessage().contains(file.toString()), inVocab.getMessage());
        assertTrue(inVocab.getMessage().contains("both have id 0"), inVocab.getMessage());

        // the same id given to a second added token
        String added = json.replace("\"added_tokens\" : [", "\"added_tokens\" : [ {\"id\" : 3, \"content\" : \"x\","
                + " \"special\" : false},");
        assertNotEquals(json, added);
        Files.writeString(file, added);

        IllegalArgumentException inAdded = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(inAdded.getMessage().contains("both have id 3"), inAdded.getMessage());
    }

    @Test
    void tokenizerJsonTheNativeLibraryRejectsIsReportedNamingTheFile() throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
    }

    @Test
    void chatTemplateListPicksTheDefaultEntryAndStringTokensAreAccepted() throws IOException {
        TokenizerWriter.write(dir, 300);
        Files.writeString(
                dir.resolve("tokenizer_config.json"),
                """
                {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                  "chat_template": [{"name": "tool_use", "template": "tools"},
                                                      {"name": "default", "template": "{{ bos_token }}{{ messages[0]['content'] }}"}]}
                """);

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            assertEquals(OptionalInt.of(0), tokenizer.bosId());
            assertEquals(OptionalInt.of(1), tokenizer.eosId());
            assertEquals(
                    TokenizerWriter.BOS + "hey",
                    tokenizer.chatTemplate().orElseThrow().render(List.of(new ChatMessage("user", "hey")), false));
        }
    }

    @Test
    void chatTemplateJinjaFileIsUsedWhenTheConfigHasNoTemplate() throws IOException {
        TokenizerWriter.write(dir, 300);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": null}");
        Files.writeString(dir.resolve("chat_template.jinja"), "{% for m in messages %}[{{ m['content'] }}]{% endfor %}");

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            assertTrue(tokenizer.bosId().isEmpty());
            assertEquals(
                    "[a][b]",
                    tokenizer
                            .chatTemplate()
                            .orElseThrow()
                            .render(List.of(new ChatMessage("user", "a"), new ChatMessage("assistant", "b")), false));
        }
    }

    @Test
    void chatTemplateJinjaThatIsNotUtf8IsRefusedNamingTheFile() throws IOException {
        TokenizerWriter.write(dir, 300);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{}");
        Path template = Files.write(dir.resolve("chat_template.jinja"), new byte[] {'{', '{', (byte) 0xC3, '}', '}'});

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(error.getMessage().contains(template + ": it is not UTF-8 text"), error.getMessage());
    }

    @Test
    void tokenizerWithoutConfigHasNoSpecialIdsOrTemplate() throws IOException {
        TokenizerWriter.write(dir, 300);
        Files.delete(dir.resolve("tokenizer_config.json"));

        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            assertTrue(tokenizer.bosId().isEmpty());
            assertTrue(tokenizer.eosId().isEmpty());
            assertTrue(tokenizer.chatTemplate().isEmpty());
        }
    }

    @Test
    void corruptTokenizerConfigIsRejectedNamingTheFile() throws IOException {
        TokenizerWriter.write(dir, 300);
        Path config = dir.resolve("tokenizer_config.json");
        Files.writeString(config, "{not json");

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));

        assertTrue(error.getMessage().contains(config.toString()), error.getMessage());
    }

    @Test
    void anAddedTokenWithAnIdTheNativeTokenizerDoesNotGiveItIsRefused() throws IOException {
        // the native tokenizer gives a new added token the next id, 300, and only warns about the file's
        String refused = refusalAfter(json -> addSpecialToken(json, 5000, "<extra>"));

        assertTrue(refused.contains(dir.resolve("tokenizer.json") + ": added token '<extra>' has id 5000 but encodes as "
                + "[300]"), refused);
    }

    @Test
    void aTokenIdOutsideTheIntRangeIsRefusedNamingTheToken() throws IOException {
        String refused = refusalAfter(json -> addSpecialToken(json, 4294967295L, "<far>"));

        assertTrue(refused.contains("token '<far>' has id 4294967295, not a whole number from 0 to 2147483647"), refused);
    }

    @Test
    void aPostProcessorAddingAnIdTheFileDoesNotHaveIsRefused() throws IOException {
        String refused = refusalAfter(json ->
                ((ObjectNode) json.at("/post_processor/special_tokens/" + TokenizerWriter.BOS)).putArray("ids").add(99999));

        assertTrue(refused.contains("its post_processor adds token id 99999"), refused);
    }

    @Test
    void aModelWhoseUnknownTokenIsNotInItsVocabularyIsRefused() throws IOException {
        String refused = refusalAfter(json ->
                ((ObjectNode) json.get("model")).put("type", "WordLevel").put("unk_token", "<unk>"));

        assertTrue(refused.contains("its model's unk_token '<unk>' is not in model.vocab"), refused);
    }

    @Test
    void aTemplateUsingASpecialTokenItDoesNotDeclareIsRefusedNotAbortingTheProcess() throws IOException {
        String refused = refusalAfter(json ->
                ((ObjectNode) json.at("/post_processor/single/0/SpecialToken")).put("id", "<undeclared>"));

        assertTrue(refused.contains("post_processor: the single template uses special token '<undeclared>', which "
                + "special_tokens does not declare"), refused);
    }

    @Test
    void aSingleTextTemplateNamingASecondTextIsRefusedNotAbortingTheProcess() throws IOException {
        String refused = refusalAfter(json -> ((ObjectNode) json.at("/post_processor/single/1/Sequence")).put("id", "B"));

        assertTrue(refused.contains("post_processor: the single template uses sequence B"), refused);
    }

    @Test
    void aMergeShorterThanTheContinuingSubwordPrefixIsRefusedNotAbortingTheProcess() throws IOException {
        String refused = refusalAfter(json -> ((ObjectNode) json.get("model")).put("continuing_subword_prefix", "####"));

        assertTrue(refused.contains("has a right side shorter than its continuing_subword_prefix \"####\""), refused);
    }

    @Test
    void aUnigramModelWithoutAnUnknownIdIsRefusedRatherThanFailingTextsItCannotCover() throws IOException {
        // found by the fuzzer: a Unigram model without unk_id loaded, then every text with a character none of its
        // pieces covers failed to encode ("Encountered an unknown token but `unk_id` is missing")
        String refused = refusalAfter(json -> asUnigram(json).remove("unk_id"));

        assertTrue(refused.contains(dir.resolve("tokenizer.json").toString()), refused);
        assertTrue(refused.contains("its Unigram model has no unk_id"), refused);

        // an unk_id of null reads the same, and byte fallback does not stand in for it
        assertTrue(refusalAfter(json -> asUnigram(json).putNull("unk_id")).contains("has no unk_id"));
        assertTrue(refusalAfter(json -> {
            ArrayNode pieces = (ArrayNode) asUnigram(json).put("byte_fallback", true).get("vocab");
            for (int b = 0; b < 256; b++) pieces.addArray().add(String.format("<0x%02X>", b)).add(-20.0);
        }).contains("has no unk_id"));
    }

    @Test
    void aUnigramModelWithAnUnknownIdEncodesAnyTextWithOrWithoutByteFallback() throws IOException {
        for (Consumer<ObjectNode> model : List.<Consumer<ObjectNode>>of(
                unigram -> unigram.put("unk_id", 2),
                unigram -> {
                    // the native tokenizer asks for unk_id before it falls back to bytes, so byte pieces alone are not
                    // enough: without unk_id this one fails as the one above
                    unigram.put("unk_id", 2).put("byte_fallback", true);
                    ArrayNode pieces = (ArrayNode) unigram.get("vocab");
                    for (int b = 0; b < 256; b++) pieces.addArray().add(String.format("<0x%02X>", b)).add(-20.0);
                })) {
            TokenizerWriter.write(dir, 300);
            Path file = dir.resolve("tokenizer.json");
            ObjectNode json = (ObjectNode) JSON.readTree(file.toFile());
            model.accept(asUnigram(json));
            JSON.writeValue(file.toFile(), json);

            try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
                int[] ids = tokenizer.encode("\u2603 snow", false); // a character no piece is
                assertTrue(ids.length > 0);
                for (int id : ids) assertTrue(id >= 0 && id < 300 + 256, "id " + id);
            }
        }
    }

    /**
     * The written tokenizer's vocabulary as a Unigram model's pieces (a piece's position is its id), no unk_id, and
     * no normalizer or pre-tokenizer, so a character none of the pieces is reaches the model as it is.
     */
    private static ObjectNode asUnigram(ObjectNode json) {
        ObjectNode bpe = (ObjectNode) json.get("model");
        String[] byId = new String[bpe.get("vocab").size()];
        bpe.get("vocab").properties().forEach(e -> byId[e.getValue().intValue()] = e.getKey());
        ObjectNode unigram = json.putObject("model").put("type", "Unigram").put("byte_fallback", false);
        ArrayNode pieces = unigram.putArray("vocab");
        for (String piece : byId) pieces.addArray().add(piece).add(-1.0);
        json.putNull("normalizer");
        json.putNull("pre_tokenizer");
        return unigram;
    }

    /** What Tokenizer.load says refusing the written tokenizer once edit has changed its tokenizer.json. */
    private String refusalAfter(Consumer<ObjectNode> edit) throws IOException {
        TokenizerWriter.write(dir, 300);
        Path file = dir.resolve("tokenizer.json");
        ObjectNode json = (ObjectNode) JSON.readTree(file.toFile());
        edit.accept(json);
        JSON.writeValue(file.toFile(), json);
        return assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir)).getMessage();
    }

    private static void addSpecialToken(ObjectNode json, long id, String content) {
        ((ArrayNode) json.get("added_tokens")).addObject().put("id", id).put("content", content)
                .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", false)
                .put("special", true);
    }
}
