package dev.moemesh.core.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A chat template comes with a downloaded checkpoint and the messages from any caller: whatever both hold, rendering
 * gives text within the output bound or an {@link IllegalArgumentException} for the one request; never another
 * exception, never a read file. Seeds: src/test/resources/dev/moemesh/core/tokenizer/ChatTemplateFuzzTestInputs.
 */
class ChatTemplateFuzzTest {

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"{%", "%}", "{{", "}}", "{%-", "-%}", "for m in messages", "endfor", "if ", "endif", "else",
            "set ", "include ", "import ", "extends ", "macro ", "endmacro", "range(", "m['content']", "m['role']",
            "messages", "add_generation_prompt", "bos_token", "eos_token", "raise_exception(", "namespace(", "|join",
            "|length", "|tojson", "|trim", " * ", " ~ ", "loop.index", "'user'", "'assistant'", "'system'", "none"})
    void templateRendersWithinBoundsOrIsRefused(FuzzedDataProvider data) {
        List<ChatMessage> messages = new ArrayList<>();
        int count = data.consumeInt(0, 4);
        for (int i = 0; i < count; i++) {
            messages.add(new ChatMessage(data.pickValue(new String[] {"system", "user", "assistant", "tool"}),
                    data.consumeBoolean() ? null : data.consumeString(64)));
        }
        boolean generationPrompt = data.consumeBoolean();
        String source = data.consumeRemainingAsString();
        String rendered;
        try {
            rendered = new ChatTemplate(source, "<bos>", "<eos>").render(messages, generationPrompt);
        } catch (IllegalArgumentException refused) {
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal without a reason");
            return;
        }
        assertTrue(rendered.length() <= ChatTemplate.MAX_OUTPUT_CHARS, "output past the bound: " + rendered.length());
    }
}
