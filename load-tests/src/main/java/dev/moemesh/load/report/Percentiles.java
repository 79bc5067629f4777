package dev.moemesh.load.report;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.HdrHistogram.Histogram;

/** A latency's distribution in milliseconds, from an HdrHistogram of microseconds; all 0 when nothing was recorded. */
public record Percentiles(long count, double mean, double p50, double p90, double p99,
                          @JsonProperty("p99_9") double p999, double max) {
    /** A histogram of microseconds from 1 µs to 1 hour, 3 significant digits. */
    public static Histogram histogram() {
        return new Histogram(1, 3_600_000_000L, 3);
    }

    public static void recordNanos(Histogram h, long nanos) {
        h.recordValue(Math.max(1, Math.min(nanos / 1000, h.getHighestTrackableValue())));
    }

    public static Percentiles of(Histogram h) {
        if (h.getTotalCount() == 0) return new Percentiles(0, 0, 0, 0, 0, 0, 0);
        return new Percentiles(h.getTotalCount(), ms(h.getMean()), ms(h.getValueAtPercentile(50)),
                ms(h.getValueAtPercentile(90)), ms(h.getValueAtPercentile(99)), ms(h.getValueAtPercentile(99.9)),
                ms(h.getMaxValue()));
    }

    private static double ms(double micros) {
        return Math.round(micros) / 1000.0;
    }
}
