package dev.moemesh.core.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.TemplateError.ErrorType;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/** A Jinja chat template rendered with Jinjava, as transformers' {@code apply_chat_template} does. */
public final class ChatTemplate {

    // transformers renders with trim_blocks and lstrip_blocks on. The legacy overrides opt into
    // Jinjava's Python-compatible behaviour, except two that break real templates: natural operator
    // precedence reads `not x is defined` as `(not x) is defined`, and whitespace-required tokens
    // stop `{%-` from parsing.
    private static final Jinjava JINJAVA = createJinjava();

    private final String source;
    private final String bosToken;
    private final String eosToken;

    /** bosToken and eosToken may be null when the model has none; the template then sees them undefined. */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = Objects.requireNonNull(source, "source");
        this.bosToken = bosToken;
        this.eosToken = eosToken;
    }

    public String source() {
        return source;
    }

    /** Renders the conversation; with addGenerationPrompt the text ends where the assistant's reply begins. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages.stream().map(ChatTemplate::asTemplateValue).toList());
        context.put("add_generation_prompt", addGenerationPrompt);
        if (bosToken != null) {
            context.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            context.put("eos_token", eosToken);
        }
        RenderResult result = JINJAVA.renderForResult(source, context);
        List<TemplateError> fatal =
                result.getErrors().stream().filter(e -> e.getSeverity() == ErrorType.FATAL).toList();
        if (!fatal.isEmpty()) {
            throw new IllegalArgumentException(
                    "Chat template failed to render: "
                            + fatal.stream().map(ChatTemplate::describe).collect(Collectors.joining("; ")));
        }
        return result.getOutput();
    }

    /** Called by templates as {@code raise_exception(msg)} to reject a conversation they cannot format. */
    public static String raiseException(String message) {
        throw new TemplateRaisedException(message);
    }

    private static Map<String, Object> asTemplateValue(ChatMessage message) {
        // a mutable map, because content may be null and templates test it with `is none`
        Map<String, Object> value = new HashMap<>();
        value.put("role", message.role());
        value.put("content", message.content());
        return value;
    }

    private static String describe(TemplateError error) {
        Throwable cause = error.getException();
        while (cause != null) {
            if (cause instanceof TemplateRaisedException raised) {
                return raised.getMessage();
            }
            cause = cause.getCause();
        }
        return error.getMessage() + (error.getLineno() > 0 ? " (line " + error.getLineno() + ")" : "");
    }

    private static Jinjava createJinjava() {
        JinjavaConfig config =
                JinjavaConfig.newBuilder()
                        .withTrimBlocks(true)
                        .withLstripBlocks(true)
                        .withLegacyOverrides(
                                LegacyOverrides.newBuilder()
                                        .withEvaluateMapKeys(true)
                                        .withIterateOverMapKeys(true)
                                        .withUsePyishObjectMapper(true)
                                        .withUseSnakeCasePropertyNaming(true)
                                        .withParseWhitespaceControlStrictly(true)
                                        .withAllowAdjacentTextNodes(true)
                                        .withUseTrimmingForNotesAndExpressions(true)
                                        .withKeepNullableLoopValues(true)
                                        .build())
                        .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava
                .getGlobalContext()
                .registerFunction(
                        new ELFunctionDefinition(
                                "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        return jinjava;
    }

    /** What raise_exception throws, so render can report the template's own message. */
    private static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message);
        }
    }
}
