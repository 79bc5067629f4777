package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChatTemplateTest {

    private static final String BOS = "<｜begin▁of▁sentence｜>";
    private static final String EOS = "<｜end▁of▁sentence｜>";

    private static final List<ChatMessage> CONVERSATION =
            List.of(
                    new ChatMessage("system", "You are terse."),
                    new ChatMessage("user", "Hi"),
                    new ChatMessage("assistant", "<think>greet back</think>Hello!"),
                    new ChatMessage("user", "What is 2+2?"));

    @Test
    void deepSeekTemplateRendersSystemUserAssistantUserExactly() throws IOException {
        ChatTemplate template = new ChatTemplate(deepSeekTemplate(), BOS, EOS);

        assertEquals(
                BOS
                        + "You are terse.<｜User｜>Hi<｜Assistant｜>Hello!"
                        + EOS
                        + "<｜User｜>What is 2+2?",
                template.render(CONVERSATION, false));
    }

    @Test
    void generationPromptEndsWithAssistantTag() throws IOException {
        ChatTemplate template = new ChatTemplate(deepSeekTemplate(), BOS, EOS);

        String prompt = template.render(CONVERSATION, true);

        assertTrue(prompt.endsWith("<｜User｜>What is 2+2?<｜Assistant｜>"), prompt);
    }

    @Test
    void systemPromptsAreJoinedWithABlankLine() throws IOException {
        ChatTemplate template = new ChatTemplate(deepSeekTemplate(), BOS, EOS);

        String prompt =
                template.render(
                        List.of(
                                new ChatMessage("system", "Be kind."),
                                new ChatMessage("system", "Be brief."),
                                new ChatMessage("user", "Hello")),
                        true);

        assertEquals(BOS + "Be kind.\n\nBe brief.<｜User｜>Hello<｜Assistant｜>", prompt);
    }

    @Test
    void toolOutputsAreWrappedAndCloseBeforeTheReply() throws IOException {
        ChatTemplate template = new ChatTemplate(deepSeekTemplate(), BOS, EOS);

        String prompt =
                template.render(
                        List.of(
                                new ChatMessage("user", "Weather?"),
                                new ChatMessage("tool", "sunny"),
                                new ChatMessage("assistant", "It is sunny.")),
                        false);

        assertEquals(
                BOS
                        + "<｜User｜>Weather?<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜>"
                        + "<｜tool▁outputs▁end｜>It is sunny."
                        + EOS,
                prompt);
    }

    @Test
    void blockTagsTrimTheirNewlinesAsTransformersDoes() {
        String source =
                """
                {% for message in messages %}
                        {% if message['role'] == 'user' %}
                [{{ message['content'] }}]
                        {% endif %}
                {% endfor %}
                """;

        String rendered =
                new ChatTemplate(source, BOS, EOS)
                        .render(List.of(new ChatMessage("user", "a"), new ChatMessage("user", "b")), false);

        assertEquals("[a]\n[b]\n", rendered);
    }

    @Test
    void raiseExceptionSurfacesTheTemplatesMessage() {
        String source =
                "{% for m in messages %}{% if m['role'] == 'tool' %}"
                        + "{{ raise_exception('Tool messages are not supported') }}{% endif %}{% endfor %}";
        ChatTemplate template = new ChatTemplate(source, BOS, EOS);

        IllegalArgumentException error =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> template.render(List.of(new ChatMessage("tool", "x")), false));

        assertTrue(error.getMessage().contains("Tool messages are not supported"), error.getMessage());
    }

    @Test
    void malformedTemplateIsRejectedWithTheParserMessage() {
        ChatTemplate template = new ChatTemplate("{% for m in messages %}{{ m['role'] }}", BOS, EOS);

        IllegalArgumentException error =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> template.render(List.of(new ChatMessage("user", "x")), false));

        assertTrue(error.getMessage().startsWith("Chat template failed to render"), error.getMessage());
    }

    @Test
    void aTemplateCannotReadFilesByIncludeOrImport() {
        // the template comes with a downloaded checkpoint: it may format messages, not read the server's classpath
        for (String source : List.of("{% include 'META-INF/MANIFEST.MF' %}",
                "{% import 'dev/moemesh/core/tokenizer/deepseek-v3-chat-template.jinja' as t %}x",
                "{% from 'deepseek-v3-chat-template.jinja' import m %}x",
                "{% extends 'META-INF/MANIFEST.MF' %}")) {
            ChatTemplate template = new ChatTemplate(source, BOS, EOS);

            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> template.render(List.of(new ChatMessage("user", "x")), false), source);

            assertTrue(error.getMessage().contains("reads no files"), error.getMessage());
        }
    }

    @Test
    void aTemplateThatWritesWithoutEndIsStoppedAtTheOutputBound() {
        String source = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
                + "{{ messages[0]['content'] }}{% endfor %}{% endfor %}{% endfor %}";
        ChatTemplate template = new ChatTemplate(source, BOS, EOS);

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> template.render(List.of(new ChatMessage("user", "x".repeat(1000))), false));

        assertTrue(error.getMessage().startsWith("Chat template failed to render"), error.getMessage());
    }

    @Test
    void aTemplateThatLoopsWithoutWritingIsStoppedAtTheRenderDeadline() {
        String source = "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
                + "{% endfor %}{% endfor %}{% endfor %}done";
        ChatTemplate template = new ChatTemplate(source, BOS, EOS);

        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> template.render(List.of(new ChatMessage("user", "x")), false));

        assertTrue(error.getMessage().contains("ran past"), error.getMessage());
        assertEquals("[x]", new ChatTemplate("{% for m in messages %}[{{ m['content'] }}]{% endfor %}", BOS, EOS)
                .render(List.of(new ChatMessage("user", "x")), false), "the next render on the thread has its own time");
    }

    private static String deepSeekTemplate() throws IOException {
        try (InputStream in = ChatTemplate.class.getResourceAsStream("deepseek-v3-chat-template.jinja")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
    }
}
