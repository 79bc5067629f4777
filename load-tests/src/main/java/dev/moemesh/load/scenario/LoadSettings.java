package dev.moemesh.load.scenario;

import dev.moemesh.load.report.Slo;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.workload.Workload;

import java.time.Duration;
import java.util.List;

/**
 * How a scenario runs.
 *
 * @param door        the door of one-door scenarios ({@code step}, {@code sweep}, {@code soak}, {@code skew})
 * @param arrivals    the kind of arrivals (its rate is {@code step}'s; the others set their own rates)
 * @param step        how long each step sends
 * @param drain       how long after a step its answers are awaited (the Kafka door gets more: its backlog)
 * @param rates       the sweep's offered rates; empty: from {@code startRate}, doubling until saturated
 * @param saturation  requests/s the mesh saturates at, for {@code compare}, {@code overload}, {@code soak},
 *                    {@code skew}; 0: measured first with a short sweep
 * @param soak        the soak's length
 * @param repeats     how many times {@code compare} alternates its doors
 * @param deadline    a request's deadline at the gRPC and REST doors
 * @param warmup      how long each door the scenario uses is warmed up first (2 clients, closed loop; not reported)
 */
public record LoadSettings(String door, Arrivals arrivals, Workload workload, Duration step, Duration drain, Slo slo,
                           List<Double> rates, double startRate, double saturation, Duration soak, int repeats,
                           Duration deadline, Duration warmup) {
    public LoadSettings {
        rates = List.copyOf(rates);
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be at least 1");
    }
}
