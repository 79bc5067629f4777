package dev.moemesh.expert.held;

import dev.moemesh.core.moe.ExpertId;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Token rows computed per expert since start, for placement (the hottest experts get replicas) and for
 * Prometheus as {@code moemesh_expert_tokens_total{layer, expert}}.
 */
public final class ExpertTokenCounters {
    /** A ConcurrentHashMap: its computeIfAbsent runs once per key, so each expert registers one meter. */
    private final Map<ExpertId, LongAdder> tokens = new ConcurrentHashMap<>();
    private final MeterRegistry registry;

    public ExpertTokenCounters(MeterRegistry registry) {
        this.registry = registry;
    }

    public void add(ExpertId id, long rows) {
        counter(id).add(rows);
    }

    /** Makes the expert appear in {@link #snapshot()} (with 0) before it has served anything. */
    public void track(ExpertId id) {
        counter(id);
    }

    private LongAdder counter(ExpertId id) {
        LongAdder existing = tokens.get(id);
        if (existing != null) return existing;
        return tokens.computeIfAbsent(id, k -> {
            LongAdder adder = new LongAdder();
            FunctionCounter.builder("moemesh.expert.tokens", adder, LongAdder::doubleValue)
                    .description("token rows computed by a routed expert")
                    .tag("layer", Integer.toString(k.layer())).tag("expert", Integer.toString(k.expert()))
                    .register(registry);
            return adder;
        });
    }

    /** Every counted or tracked expert, in (layer, expert) order. */
    public Map<ExpertId, Long> snapshot() {
        Map<ExpertId, Long> out = new TreeMap<>();
        tokens.forEach((id, adder) -> out.put(id, adder.sum()));
        return out;
    }
}
