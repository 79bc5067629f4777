package dev.moemesh.core.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.TemplateError.ErrorType;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.loader.ResourceLocator;
import java.io.IOException;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A Jinja chat template rendered with Jinjava, as transformers' {@code apply_chat_template} does.
 *
 * <p>The template comes with a downloaded checkpoint and the messages from any caller, so rendering is fenced: a
 * template reads no files ({@code include}, {@code import}, {@code from} and {@code extends} are refused), and its
 * output, strings, lists, ranges, nesting and render time are bounded, so a template that writes or loops without end
 * fails the one request with a clear error instead of exhausting the server's memory or a thread.
 */
public final class ChatTemplate {

    /** Far above any prompt a context window takes (a 128 k-token context is about 0.5 MB of text). */
    static final long MAX_OUTPUT_CHARS = 8L << 20;
    /**
     * A real template renders in milliseconds once warm; the first render in a cold JVM on a busy machine has taken
     * seconds here, so the bound that stops a template looping without writing leaves room for that.
     */
    static final Duration MAX_RENDER_TIME = Duration.ofSeconds(5);
    /** The render running on this thread (Jinjava renders on the caller's thread): {running, deadline in nanoTime}. */
    private static final ThreadLocal<long[]> DEADLINE = ThreadLocal.withInitial(() -> new long[2]);

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
        long[] deadline = DEADLINE.get();
        deadline[0] = 1;
        deadline[1] = System.nanoTime() + MAX_RENDER_TIME.toNanos();
        RenderResult result;
        try {
            result = JINJAVA.renderForResult(source, context);
        } catch (RenderTooLong e) {
            throw new IllegalArgumentException("Chat template failed to render: " + e.getMessage());
        } finally {
            deadline[0] = 0;
        }
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
            if (cause instanceof TemplateRaisedException || cause instanceof RenderTooLong) {
                return cause.getMessage();
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
                        .withMaxOutputSize(MAX_OUTPUT_CHARS)
                        .withMaxStringLength(MAX_OUTPUT_CHARS)
                        .withMaxListSize(100_000)
                        .withMaxMapSize(100_000)
                        .withRangeLimit(100_000)
                        .withMaxRenderDepth(16)
                        .withMaxMacroRecursionDepth(16)
                        .withNodePreProcessor((node, interpreter) -> {
                            long[] deadline = DEADLINE.get();
                            if (deadline[0] == 1 && System.nanoTime() - deadline[1] > 0) throw new RenderTooLong();
                        })
                        .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.setResourceLocator(ReadsNoFiles.INSTANCE);
        jinjava
                .getGlobalContext()
                .registerFunction(
                        new ELFunctionDefinition(
                                "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        return jinjava;
    }

    /** The resource locator of a template that may only format what it is given. */
    private enum ReadsNoFiles implements ResourceLocator {
        INSTANCE;

        @Override
        public String getString(String name, Charset encoding, JinjavaInterpreter interpreter) throws IOException {
            throw new IOException("a chat template reads no files (it asked for '" + name + "')");
        }
    }

    /** Thrown between nodes once a render passes {@link #MAX_RENDER_TIME}. */
    private static final class RenderTooLong extends RuntimeException {
        RenderTooLong() {
            super("the template ran past " + MAX_RENDER_TIME.toMillis() + " ms (a loop without bound?)", null, false,
                    false);
        }
    }

    /** What raise_exception throws, so render can report the template's own message. */
    private static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message);
        }
    }
}
