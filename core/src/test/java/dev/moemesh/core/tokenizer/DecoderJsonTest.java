package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each file here made the native tokenizer panic while reading its decoder, which aborts the JVM. */
class DecoderJsonTest {
    @TempDir Path dir;

    @Test
    void aDecoderNestedPastWhatTheNativeParserReadsIsRefusedNamingTheFile() throws IOException {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> loadWithDecoderField("[".repeat(150) + "]".repeat(150)));

        assertTrue(refused.getMessage().contains(dir.resolve("tokenizer.json") + ": decoder: it nests more than 100 "
                + "levels deep"), refused.getMessage());
    }

    @Test
    void aDecoderNumberNoDoubleHoldsIsRefused() throws IOException {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> loadWithDecoderField("1e400"));

        assertTrue(refused.getMessage().contains("decoder: the number"), refused.getMessage());
    }

    @Test
    void aDecoderWithAnExtraFieldTheNativeParserReadsStillLoads() throws IOException {
        loadWithDecoderField("[[[1.5e300, \"text\"]]]").close();
    }

    /** The written tokenizer with one more field in its decoder, spelled as given. */
    private Tokenizer loadWithDecoderField(String value) throws IOException {
        TokenizerWriter.write(dir, TokenizerWriter.MIN_VOCAB_SIZE);
        Path file = dir.resolve("tokenizer.json");
        String json = Files.readString(file);
        Files.writeString(file, json.replaceFirst("\"decoder\" : \\{", "\"decoder\" : {\"extra\": " + value + ", "));
        return Tokenizer.load(dir).orElseThrow();
    }
}
