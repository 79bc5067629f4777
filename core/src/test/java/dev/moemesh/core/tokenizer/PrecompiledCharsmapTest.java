package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each refusal here stands for a tokenizer.json on which the native tokenizer panics, which aborts the JVM: without the
 * check the test process dies instead of failing.
 */
class PrecompiledCharsmapTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int UNITS = 512; // two of darts-clone's 256-unit blocks
    private static final int ROOT_CHILDREN = 256; // where the root's children sit: root position 0 xor this offset
    private static final int A_VALUE = 400; // where the unit holding "a"'s replacement sits

    @TempDir Path dir;

    @Test
    void aPrecompiledNormalizerWithANullCharsmapIsRefusedNamingTheFile() throws IOException {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> loadWithNormalizer("{\"type\":\"Precompiled\",\"precompiled_charsmap\":null}"));

        assertTrue(refused.getMessage().contains(dir.resolve("tokenizer.json").toString()), refused.getMessage());
        assertTrue(refused.getMessage().contains("precompiled_charsmap"), refused.getMessage());
    }

    @Test
    void aWellFormedCharsmapIsAcceptedAndTheTokenizerAppliesIt() throws IOException {
        String mapsAToUpperCase = base64(charsmap(A_VALUE));

        try (Tokenizer plain = load(dir.resolve("plain"));
                Tokenizer normalizing = loadWithNormalizer(precompiled(mapsAToUpperCase))) {
            assertArrayEquals(plain.encode(" bAnAnA", false), normalizing.encode(" banana", false));
        }
    }

    @Test
    void aTrieThatLeadsPastItsEndIsRefusedBeforeTheNativeTokenizerWalksIt() {
        assertEquals(Optional.of("precompiled_charsmap's trie reads past its end"),
                PrecompiledCharsmap.problem(base64(charsmap(UNITS + 100))));
    }

    @Test
    void aReplacementOutsideTheStringsIsRefused() {
        int[] units = charsmap(A_VALUE);
        units[A_VALUE] = 50; // the strings are "A\0": two bytes

        assertEquals(Optional.of("precompiled_charsmap's trie points outside its replacement strings"),
                PrecompiledCharsmap.problem(base64(units)));
    }

    @Test
    void base64WithoutPaddingIsRefusedThoughJavaCouldDecodeIt() {
        String padded = base64(charsmap(A_VALUE));
        assertTrue(padded.endsWith("="), padded);

        assertEquals(Optional.of("precompiled_charsmap is not canonical, padded base64"),
                PrecompiledCharsmap.problem(padded.replace("=", "")));
    }

    /** A trie that maps "a" to "A": the root's child for 'a' has a leaf whose value unit sits at leafAt. */
    private static int[] charsmap(int leafAt) {
        int[] units = new int[UNITS];
        units[0] = ROOT_CHILDREN << 10;
        int a = ROOT_CHILDREN ^ 'a';
        units[a] = 'a' | 1 << 8 | (a ^ leafAt) << 10;
        if (leafAt < UNITS) units[leafAt] = 0; // the replacement starts at byte 0 of the strings
        return units;
    }

    private static String base64(int[] units) {
        byte[] strings = "A\0".getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(4 + 4 * units.length + strings.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putInt(4 * units.length);
        for (int unit : units) bytes.putInt(unit);
        bytes.put(strings);
        return Base64.getEncoder().encodeToString(bytes.array());
    }

    private static String precompiled(String charsmap) {
        return "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"" + charsmap + "\"}";
    }

    private Tokenizer loadWithNormalizer(String normalizer) throws IOException {
        Path model = dir;
        TokenizerWriter.write(model, TokenizerWriter.MIN_VOCAB_SIZE);
        ObjectNode json = (ObjectNode) JSON.readTree(model.resolve("tokenizer.json").toFile());
        json.set("normalizer", JSON.readTree(normalizer));
        JSON.writeValue(model.resolve("tokenizer.json").toFile(), json);
        return Tokenizer.load(model).orElseThrow();
    }

    private static Tokenizer load(Path model) {
        TokenizerWriter.write(model, TokenizerWriter.MIN_VOCAB_SIZE);
        return Tokenizer.load(model).orElseThrow();
    }
}
