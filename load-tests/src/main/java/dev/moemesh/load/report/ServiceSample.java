package dev.moemesh.load.report;

import java.util.Map;

/**
 * A service's state at one moment of a step ({@code atS} seconds after its start): {@code heap_used_mb},
 * {@code heap_live_after_gc_mb} (the old generation after the last collection), {@code threads}, {@code open_fds},
 * or, for the Kafka door, {@code kafka_lag} (records on {@code inference.requests} not yet committed).
 */
public record ServiceSample(String service, double atS, Map<String, Double> values) {
}
