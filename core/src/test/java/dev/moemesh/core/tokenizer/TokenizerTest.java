package dev.moemesh.core.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {

    @ParameterizedTest
    @ValueSource(ints = {260, 300, 512, 1024, 4096})
    void writtenTokenizerHasExactlyTheAskedVocabulary(int size, @TempDir Path dir) {
        TokenizerWriter.write(dir, size);
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            assertEquals(size, t.vocabSize());
            assertEquals(0, t.bosId().orElseThrow());
            assertEquals(1, t.eosId().orElseThrow());
            assertEquals(2, t.tokenId(TokenizerWriter.USER).orElseThrow());
            assertEquals(3, t.tokenId(TokenizerWriter.ASSISTANT).orElseThrow());
            for (int id : t.encode("Hello world, the mesh routes tokens.", true)) assertTrue(id >= 0 && id < size, "id " + id);
        }
    }

    @Test
    void encodeAddsBosAndRoundTripsAnyText(@TempDir Path dir) {
        TokenizerWriter.write(dir, 1024);
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            int[] ids = t.encode("Hello world", true);
            assertEquals(0, ids[0], "BOS first, as DeepSeek's post-processor puts it");
            assertEquals(ids.length - 1, t.encode("Hello world", false).length);
            for (String text : List.of("Hello world", "naïve café — 東京 🚀", "  spaces\tand\nnew lines  ", "x")) {
                assertEquals(text, t.decode(t.encode(text, true), true), text);
            }
            assertTrue(t.encode("the mesh", false).length < "the mesh".length(), "merges learned: fewer ids than bytes");
            assertEquals(TokenizerWriter.BOS + "hi", t.decode(t.encode("hi", true), false));
        }
    }

    @Test
    void specialTokensInTextEncodeAsOneId(@TempDir Path dir) {
        TokenizerWriter.write(dir, 512);
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            int[] ids = t.encode(TokenizerWriter.USER + "hi" + TokenizerWriter.ASSISTANT, false);
            assertEquals(2, ids[0]);
            assertEquals(3, ids[ids.length - 1]);
        }
    }

    @Test
    void chatTemplateRendersLikeDeepSeeks(@TempDir Path dir) {
        TokenizerWriter.write(dir, 512);
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            ChatTemplate template = t.chatTemplate().orElseThrow();
            List<ChatMessage> chat = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
                    new ChatMessage("assistant", "Hello."), new ChatMessage("user", "Who are you?"));
            assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>Hello.<｜end▁of▁sentence｜>"
                    + "<｜User｜>Who are you?<｜Assistant｜>", template.render(chat, true));
            assertEquals("<｜begin▁of▁sentence｜><｜User｜>Hi", template.render(List.of(new ChatMessage("user", "Hi")), false));
            var e = assertThrows(IllegalArgumentException.class,
                    () -> template.render(List.of(new ChatMessage("robot", "beep")), true));
            assertTrue(e.getMessage().contains("unknown role: robot"), e.getMessage());
        }
    }

    @Test
    void twoSystemPromptsJoinWithABlankLine() {
        ChatTemplate template = new ChatTemplate(TokenizerWriter.CHAT_TEMPLATE, "<s>", "</s>");
        assertEquals("<s>A\n\nB<｜User｜>q", template.render(List.of(new ChatMessage("system", "A"),
                new ChatMessage("system", "B"), new ChatMessage("user", "q")), false));
    }

    @Test
    void missingTokenizerIsEmptyAndABrokenOneNamesTheFile(@TempDir Path dir) throws IOException {
        assertTrue(Tokenizer.load(dir).isEmpty());
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }

    @Test
    void tooSmallVocabularyIsRefused(@TempDir Path dir) {
        assertThrows(IllegalArgumentException.class, () -> TokenizerWriter.write(dir, 100));
    }
}
