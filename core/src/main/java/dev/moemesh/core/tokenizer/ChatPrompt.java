package dev.moemesh.core.tokenizer;

import java.util.List;

/**
 * A conversation as the prompt a model continues, the same for every door (REST's {@code messages}, Kafka's): the
 * checkpoint's chat template renders it with the generation prompt, and the text is encoded without added special
 * tokens, since the template writes BOS itself.
 */
public final class ChatPrompt {
    private ChatPrompt() {}

    /**
     * @throws IllegalStateException    the checkpoint has no chat template
     * @throws IllegalArgumentException the template refused the messages (its reason in the message)
     */
    public static int[] encode(Tokenizer tokenizer, List<ChatMessage> messages) {
        ChatTemplate template = tokenizer.chatTemplate()
                .orElseThrow(() -> new IllegalStateException("the checkpoint has no chat template"));
        String rendered;
        try {
            rendered = template.render(messages, true);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("the chat template refused the messages: " + e.getMessage(), e);
        }
        return tokenizer.encode(rendered, false);
    }
}
