package dev.moemesh.load.observe;

import dev.moemesh.load.report.ServiceSample;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Samples the watched services (and the Kafka door's lag) every {@code every} on a thread of its own while a step
 * runs; {@link #stop} returns what it saw, a last sample included.
 */
public final class Sampler {
    private final ServiceMetrics services;
    private final Optional<KafkaLag> lag;
    private final Duration every;
    private final List<ServiceSample> samples = new ArrayList<>();
    private Thread thread;
    private long startNanos;
    private volatile boolean stopping;

    public Sampler(ServiceMetrics services, Optional<KafkaLag> lag, Duration every) {
        this.services = services;
        this.lag = lag;
        this.every = every;
    }

    public void start() {
        startNanos = System.nanoTime();
        stopping = false;
        synchronized (samples) {
            samples.clear();
        }
        thread = Thread.ofPlatform().daemon().name("load-sampler").start(() -> {
            while (!stopping) {
                sampleNow();
                try {
                    Thread.sleep(every);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    private void sampleNow() {
        double at = Math.round((System.nanoTime() - startNanos) / 1e8) / 10.0;
        List<ServiceSample> round = new ArrayList<>(services.sample(at).values());
        lag.ifPresent(l -> {
            long n = l.now();
            if (n >= 0) round.add(new ServiceSample("kafka", at, Map.of("kafka_lag", (double) n)));
        });
        synchronized (samples) {
            samples.addAll(round);
        }
    }

    public List<ServiceSample> stop() {
        stopping = true;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sampleNow();
        synchronized (samples) {
            return List.copyOf(samples);
        }
    }
}
