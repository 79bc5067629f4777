package dev.moemesh.load.run;

import dev.moemesh.load.workload.Workload;

import java.time.Duration;

/**
 * One stretch of load at one setting: requests of {@code workload} through one door, on {@code arrivals}, sent for
 * {@code duration}, then at most {@code drain} more to collect the answers still on their way.
 */
public record Step(String label, Arrivals arrivals, Workload workload, Duration duration, Duration drain) {
}
