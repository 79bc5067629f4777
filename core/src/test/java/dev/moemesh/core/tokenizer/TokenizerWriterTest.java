package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerWriterTest {

    @TempDir Path dir;

    @Test
    void writingTwiceGivesIdenticalFiles(@TempDir Path other) throws IOException {
        TokenizerWriter.write(dir, 700);
        TokenizerWriter.write(other, 700);

        assertEquals(Files.readString(dir.resolve("tokenizer.json")), Files.readString(other.resolve("tokenizer.json")));
    }

    @Test
    void layoutFollowsDeepSeekSpecialsThenBytesThenMerges() throws IOException {
        TokenizerWriter.write(dir, 400);
        JsonNode root = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode vocab = root.path("model").path("vocab");

        assertEquals(0, vocab.path(TokenizerWriter.BOS).asInt());
        assertEquals(4 + 'A', vocab.path("A").asInt());
        assertEquals(4 + ' ', vocab.path("Ġ").asInt(), "space is GPT-2's Ġ");
        assertEquals(400 - 260, root.path("model").path("merges").size());
        assertEquals(4, root.path("added_tokens").size());
        assertTrue(root.path("added_tokens").get(0).path("special").asBoolean());
    }

    @Test
    void configNamesTheSpecialTokensAndCarriesTheChatTemplate() throws IOException {
        TokenizerWriter.write(dir, 300);
        JsonNode config = new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());

        assertEquals(TokenizerWriter.BOS, config.path("bos_token").path("content").asText());
        assertEquals(TokenizerWriter.EOS, config.path("eos_token").path("content").asText());
        assertTrue(config.path("add_bos_token").asBoolean());
        assertTrue(config.path("chat_template").asText().contains("namespace("));
    }

    @Test
    void vocabularySizesOutsideTheSupportedRangeAreRejected() {
        assertThrows(
                IllegalArgumentException.class, () -> TokenizerWriter.write(dir, TokenizerWriter.MIN_VOCAB_SIZE - 1));
        assertThrows(
                IllegalArgumentException.class, () -> TokenizerWriter.write(dir, TokenizerWriter.MAX_VOCAB_SIZE + 1));
    }
}
