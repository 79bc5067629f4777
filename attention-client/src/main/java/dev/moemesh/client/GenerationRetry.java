package dev.moemesh.client;

import io.smallrye.faulttolerance.api.TypedGuard;
import jakarta.enterprise.util.TypeLiteral;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CompletionStage;

/**
 * How a door runs a generation again when the mesh failed it (a dead or unreachable attention service, an expert
 * fault that healing could not cover): at most {@code maxRetries} times, after a back-off from {@code firstBackoff}
 * doubling to {@code longestBackoff}, and not once {@code deadline} has passed since the first attempt started.
 *
 * @param maxRetries     runs after the first; 0 never runs one again
 * @param firstBackoff   the wait before the first run again (with up to half of it as jitter)
 * @param longestBackoff the longest wait between two runs
 * @param deadline       no run starts this long after the first one started
 */
public record GenerationRetry(int maxRetries, Duration firstBackoff, Duration longestBackoff, Duration deadline) {
    /**
     * Six more runs, 100 ms doubling to 2 s apart (about 5 s of waits in all: time for a control plane to re-place
     * the experts of an expert service that died with their only replica), within 10 minutes (a long generation
     * fails late).
     */
    public static final GenerationRetry DEFAULT = new GenerationRetry(6, Duration.ofMillis(100), Duration.ofSeconds(2),
            Duration.ofMinutes(10));
    /** Each generation runs once. */
    public static final GenerationRetry NEVER = new GenerationRetry(0, Duration.ofMillis(1), Duration.ofMillis(1),
            Duration.ofMinutes(10));

    public GenerationRetry {
        if (maxRetries < 0) throw new IllegalArgumentException("generation retries must be >= 0, got " + maxRetries);
        if (firstBackoff.isNegative() || longestBackoff.compareTo(firstBackoff) < 0 || !deadline.isPositive()) {
            throw new IllegalArgumentException("generation retry back-off " + firstBackoff + " to " + longestBackoff
                    + ", deadline " + deadline + ": need 0 <= first <= longest and a positive deadline");
        }
    }

    /** Thrown by an attempt that failed for the mesh's own reasons: worth running again, elsewhere. */
    static final class Transient extends RuntimeException {
        Transient(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * The SmallRye Fault Tolerance guard of these attempts: an asynchronous retry, so the waits between them hold no
     * thread, that runs again only what failed {@link Transient}.
     */
    <T> TypedGuard<CompletionStage<T>> guard(TypeLiteral<CompletionStage<T>> type) {
        long first = Math.max(1, firstBackoff.toMillis());
        return TypedGuard.create(type)
                .withRetry().maxRetries(maxRetries).delay(first, ChronoUnit.MILLIS)
                .jitter(Math.max(1, first / 2), ChronoUnit.MILLIS).maxDuration(deadline.toMillis(), ChronoUnit.MILLIS)
                .retryOn(Transient.class)
                .withExponentialBackoff().factor(2).maxDelay(Math.max(first, longestBackoff.toMillis()),
                        ChronoUnit.MILLIS).done()
                .done().build();
    }
}
