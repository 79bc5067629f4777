package dev.moemesh.orchestrator.membership;


import dev.moemesh.core.moe.ExpertId;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * Rows per logical expert, decaying exponentially with a half-life: recent traffic counts fully, traffic one
 * half-life ago half, so the planner follows a shifting load without forgetting it between two heartbeats.
 * Not thread-safe: {@link Membership} guards it.
 */
public final class ExpertLoadMeter {
    private final double halfLifeMillis;
    private final Map<ExpertId, Sample> samples = new HashMap<>();

    private record Sample(double rows, Instant at) {
    }

    public ExpertLoadMeter(Duration halfLife) {
        if (halfLife.isNegative() || halfLife.isZero()) throw new IllegalArgumentException("half-life " + halfLife);
        this.halfLifeMillis = halfLife.toMillis();
    }

    /** Counts {@code rows} more rows of {@code expert} at {@code now}. */
    public void add(ExpertId expert, long rows, Instant now) {
        samples.put(expert, new Sample(load(expert, now) + rows, now));
    }

    /** The decayed row count of {@code expert} at {@code now}; 0 when it never had any. */
    public double load(ExpertId expert, Instant now) {
        Sample s = samples.get(expert);
        if (s == null) return 0;
        long age = Math.max(0, Duration.between(s.at(), now).toMillis());
        return s.rows() * Math.pow(0.5, age / halfLifeMillis);
    }
}
