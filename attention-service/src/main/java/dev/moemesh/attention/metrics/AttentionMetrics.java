package dev.moemesh.attention.metrics;

import dev.moemesh.attention.engine.EngineLoop;
import dev.moemesh.core.engine.EngineStats;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * The attention service's {@code moemesh_attention_*} meters for Prometheus: the queue and the batch (sequences
 * running and waiting, KV blocks, sequences per step), token counters (their rate is tokens/s), and per request the
 * time to first token and the whole duration by finish reason.
 */
@ApplicationScoped
@Startup
public class AttentionMetrics {
    private final MeterRegistry registry;
    private final Timer timeToFirstToken;
    private final DistributionSummary stepSequences;

    AttentionMetrics(MeterRegistry registry, EngineLoop loop) {
        this.registry = registry;
        gauge("moemesh.attention.sequences.running", loop, s -> s.running(), "sequences in the batch");
        gauge("moemesh.attention.sequences.waiting", loop, s -> s.waiting(),
                "sequences queued for a batch slot or KV blocks (the queue depth)");
        gauge("moemesh.attention.kv.blocks.used", loop, s -> s.kvBlocksUsed(), "latent KV cache blocks in use");
        gauge("moemesh.attention.kv.blocks.total", loop, s -> s.kvBlocksTotal(), "latent KV cache blocks");
        FunctionCounter.builder("moemesh.attention.tokens.generated", loop, l -> l.stats().generatedTokens())
                .description("tokens sampled; rate() gives decode tokens/s").register(registry);
        FunctionCounter.builder("moemesh.attention.tokens.prefill", loop, l -> l.stats().prefillTokens())
                .description("prompt tokens run; rate() gives prefill tokens/s").register(registry);
        timeToFirstToken = Timer.builder("moemesh.attention.time.to.first.token")
                .description("from a request's arrival to its first token").publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2)).register(registry);
        stepSequences = DistributionSummary.builder("moemesh.attention.step.sequences")
                .description("sequences in the batch after each engine step (the batch size)").publishPercentileHistogram()
                .minimumExpectedValue(1.0).maximumExpectedValue(1024.0).register(registry);
        loop.onStep(stepSequences::record);
    }

    private void gauge(String name, EngineLoop loop, ToDoubleFunction<EngineStats> value, String description) {
        Gauge.builder(name, loop, l -> value.applyAsDouble(l.stats())).description(description).register(registry);
    }

    public void firstToken(long arrivedNanos) {
        timeToFirstToken.record(System.nanoTime() - arrivedNanos, TimeUnit.NANOSECONDS);
    }

    /** A request's whole duration, tagged with how it finished ({@code stop}, {@code length}, {@code error}, ...). */
    public void finished(long arrivedNanos, String finishReason) {
        Timer.builder("moemesh.attention.request.duration").description("from a request's arrival to its end")
                .tag("finish_reason", finishReason).register(registry)
                .record(System.nanoTime() - arrivedNanos, TimeUnit.NANOSECONDS);
    }
}
