package dev.moemesh.attention.metrics;

import dev.moemesh.attention.AttentionBeans.Served;
import dev.moemesh.attention.engine.EngineLoop;
import dev.moemesh.core.engine.EngineStats;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Counter;
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
 * time to first token and the whole duration by finish reason; with expert services, each routed-expert call's
 * round trip and the parts of its overhead ({@link dev.moemesh.attention.experts.ExpertLatency}).
 */
@ApplicationScoped
@Startup
public class AttentionMetrics {
    private static final String[] EXPERT_CALL_PARTS = {"round_trip", "overhead", "send", "queue", "transport"};

    private final MeterRegistry registry;
    private final Timer timeToFirstToken;
    private final DistributionSummary stepSequences;
    private final Counter refused;

    AttentionMetrics(MeterRegistry registry, EngineLoop loop, Served served) {
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
        FunctionCounter.builder("moemesh.attention.speculative.drafted", loop, l -> l.stats().speculation().drafted())
                .description("tokens the MTP module drafted and the main model verified (speculative decoding)")
                .register(registry);
        FunctionCounter.builder("moemesh.attention.speculative.accepted", loop, l -> l.stats().speculation().accepted())
                .description("drafted tokens the main model accepted; rate(accepted) / rate(drafted) is the acceptance"
                        + " rate").register(registry);
        FunctionCounter.builder("moemesh.attention.speculative.decode.steps", loop,
                        l -> l.stats().speculation().decodeSteps())
                .description("decoding sequences' steps; (rate(tokens.generated) over it) gives tokens per step")
                .register(registry);
        timeToFirstToken = Timer.builder("moemesh.attention.time.to.first.token")
                .description("from a request's arrival to its first token").publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2)).register(registry);
        stepSequences = DistributionSummary.builder("moemesh.attention.step.sequences")
                .description("sequences in the batch after each engine step (the batch size)").publishPercentileHistogram()
                .minimumExpectedValue(1.0).maximumExpectedValue(1024.0).register(registry);
        loop.onStep(stepSequences::record);
        refused = Counter.builder("moemesh.attention.requests.refused")
                .description("Generate calls refused RESOURCE_EXHAUSTED: max-sequences + max-queued-requests were held")
                .register(registry);
        served.remote().ifPresent(remote -> {
            Timer[] parts = new Timer[EXPERT_CALL_PARTS.length];
            for (int i = 0; i < parts.length; i++) {
                parts[i] = Timer.builder("moemesh.attention.expert.call").tag("part", EXPERT_CALL_PARTS[i])
                        .description("per routed-expert call (one per MoE layer per step): round_trip from dispatch"
                                + " to the last answer; overhead, the round trip less that answer's compute; and the"
                                + " overhead's parts send, queue (in the expert service) and transport")
                        .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(10_000))
                        .maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
            }
            remote.latency().listen((roundTrip, overhead, send, queue, transport) -> {
                parts[0].record(roundTrip, TimeUnit.NANOSECONDS);
                parts[1].record(overhead, TimeUnit.NANOSECONDS);
                parts[2].record(send, TimeUnit.NANOSECONDS);
                parts[3].record(queue, TimeUnit.NANOSECONDS);
                parts[4].record(transport, TimeUnit.NANOSECONDS);
            });
            gauge("moemesh.attention.expert.heals.waiting", loop, s -> s.parked(),
                    "sequences set aside now, waiting for a placement that serves a routed expert without a live"
                            + " replica (the rest of the batch goes on)");
            Counter[] heals = new Counter[2];
            Timer[] healWait = new Timer[2];
            for (int i = 0; i < 2; i++) {
                String outcome = i == 0 ? "healed" : "timed_out";
                heals[i] = Counter.builder("moemesh.attention.expert.heals").tag("outcome", outcome)
                        .description("sequences set aside for a routed expert without a live replica: healed (ran"
                                + " on under a placement that serves it), or timed_out (attention.expert-heal-timeout)"
                                + " and ended with the error").register(registry);
                healWait[i] = Timer.builder("moemesh.attention.expert.heal.wait").tag("outcome", outcome)
                        .description("how long a sequence set aside waited for a placement that serves its expert")
                        .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                        .maximumExpectedValue(Duration.ofMinutes(2)).register(registry);
            }
            remote.whenHealEnds((healed, waitedNanos) -> {
                int i = healed ? 0 : 1;
                heals[i].increment();
                healWait[i].record(waitedNanos, TimeUnit.NANOSECONDS);
            });
        });
    }

    private void gauge(String name, EngineLoop loop, ToDoubleFunction<EngineStats> value, String description) {
        Gauge.builder(name, loop, l -> value.applyAsDouble(l.stats())).description(description).register(registry);
    }

    /** A request refused because the batch and the queue were full. */
    public void refused() {
        refused.increment();
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
