package dev.moemesh.attention.engine;

import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;

import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The spans of the traced generations this service runs, one each from its {@code Generate} call to its end, and of
 * the engine steps that run them: a step serves every generation in the engine at once, so its span links to each
 * of theirs (the oldest is its parent), and its expert calls carry the step's context to the expert services.
 */
public final class GenerationTraces {
    private final Tracer tracer;
    /** The sampled generations in the engine now, oldest first (by the order they came in). */
    private final Map<Long, Span> running = new ConcurrentSkipListMap<>();
    private final AtomicLong arrivals = new AtomicLong();

    public GenerationTraces(Tracer tracer) {
        this.tracer = tracer;
    }

    /**
     * The listener of a generation, traced when the calling thread's context has a span (the {@code Generate} call's,
     * from its headers): its span ends as it does. Untraced, as with tracing off, it is the listener itself.
     */
    public TokenListener traced(String requestId, int promptTokens, TokenListener listener) {
        Context caller = Context.current();
        if (!Span.fromContext(caller).getSpanContext().isValid()) return listener;
        Span span = tracer.spanBuilder("generation").setParent(caller).setAttribute("moemesh.request_id", requestId)
                .setAttribute("moemesh.prompt_tokens", promptTokens).startSpan();
        if (!span.isRecording()) return listener; // its trace is not sampled: its steps need not be either
        long arrival = arrivals.incrementAndGet();
        running.put(arrival, span);
        return new TokenListener() {
            @Override
            public void onToken(String id, int tokenId, TokenLogprobs logprobs) {
                listener.onToken(id, tokenId, logprobs);
            }

            @Override
            public void onFinish(Generation g) {
                running.remove(arrival);
                span.setAttribute("moemesh.finish_reason", g.finishReason().wireName())
                        .setAttribute("moemesh.generated_tokens", g.tokenIds().length).end();
                listener.onFinish(g);
            }
        };
    }

    /**
     * Starts the span of one engine step, current on the calling thread until the returned scope closes; a no-op
     * when no sampled generation is in the engine.
     */
    Scope step() {
        if (running.isEmpty()) return Scope.noop();
        SpanBuilder builder = tracer.spanBuilder("engine step");
        int linked = 0;
        for (Span generation : running.values()) {
            if (linked++ == 0) builder.setParent(Context.root().with(generation));
            builder.addLink(generation.getSpanContext());
        }
        Span step = builder.setAttribute("moemesh.generations", linked).startSpan();
        Scope current = step.makeCurrent();
        return () -> {
            current.close();
            step.end();
        };
    }
}
