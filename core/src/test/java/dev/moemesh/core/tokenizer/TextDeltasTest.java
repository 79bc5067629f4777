package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextDeltasTest {
    private static final int BOS = 0;
    private static final int EOS = 1;
    private static final int USER = 2;

    @TempDir static Path dir;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void writeATokenizer() {
        TokenizerWriter.write(dir, 1024);
        tokenizer = Tokenizer.load(dir).orElseThrow();
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** Every token's text, told as it comes, and then the rest: the whole generation's text, and each step's too. */
    private static String told(int[] generation) {
        TextDeltas deltas = new TextDeltas(tokenizer);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < generation.length; i++) {
            text.append(deltas.add(generation[i]));
            String whole = tokenizer.decode(Arrays.copyOf(generation, i + 1), true);
            assertEquals(whole, text + deltas.rest(), "after token " + i + ": the text told and the rest is the"
                    + " whole decode");
        }
        return text + deltas.rest();
    }

    @Test
    void aLongGenerationsTextIsItsWholeDecodeWithMultiByteCharactersSplitAcrossTokensAndSpecialTokensSkipped() {
        String sentence = "The experts of naïve café — 東京 🙂 route tokens; ";
        int[] words = tokenizer.encode(sentence, false);
        assertTrue(IntStream.of(words).anyMatch(id -> tokenizer.decode(new int[] {id}, true).contains("\uFFFD")),
                "some token of the sentence is a piece of a character");
        // 4,000 tokens: the sentence again and again, a special token (skipped in the text) put in now and then,
        // inside a character's bytes too
        int[] generation = new int[4000];
        for (int i = 0, word = 0; i < generation.length; i++) {
            generation[i] = i % 97 == 50 ? new int[] {BOS, EOS, USER}[i % 3] : words[word++ % words.length];
        }
        String whole = tokenizer.decode(generation, true);
        assertEquals(whole, told(generation));
        assertFalse(whole.contains("\uFFFD"));
        assertFalse(whole.contains(TokenizerWriter.EOS), "special tokens are skipped");
    }

    @Test
    void randomTokensIncludingBytesThatNeverMakeACharacterGiveTheWholeDecode() {
        Random random = new Random(15);
        for (int run = 0; run < 20; run++) {
            int[] generation = random.ints(200, 0, tokenizer.vocabSize()).toArray();
            assertEquals(tokenizer.decode(generation, true), told(generation), "run " + run);
        }
    }

    @Test
    void aCharacterWhoseBytesNeverCompleteIsTheRest() {
        byte[] utf8 = "東".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int a = tokenizer.encode("a", false)[0];
        int firstByte = tokenizer.tokenId(ByteLevelAlphabet.symbol(utf8[0] & 0xff)).orElseThrow();
        TextDeltas deltas = new TextDeltas(tokenizer);
        assertEquals("a", deltas.add(a));
        assertEquals("", deltas.add(firstByte), "a piece of a character adds nothing yet");
        assertEquals("\uFFFD", deltas.rest());
    }

    @Test
    void withoutATokenizerNoTokenAddsText() {
        TextDeltas none = TextDeltas.none();
        assertEquals("", none.add(42));
        assertEquals("", none.rest());
    }
}
