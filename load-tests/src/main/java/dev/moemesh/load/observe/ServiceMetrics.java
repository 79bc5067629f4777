package dev.moemesh.load.observe;

import dev.moemesh.load.report.ServiceSample;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** The services a run watches: each one's name and the root of its HTTP port ({@code /q/metrics} below it). */
public final class ServiceMetrics implements AutoCloseable {
    private static final double MB = 1024 * 1024;
    private static final Map<String, String> JVM = Map.of(
            "heap_used_mb", "jvm_memory_used_bytes{area=\"heap\"",
            "heap_live_after_gc_mb", "jvm_gc_live_data_size_bytes",
            "threads", "jvm_threads_live_threads",
            "open_fds", "process_files_open_files");

    private final Map<String, URI> services;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** @param services name → HTTP root, e.g. {@code router → http://localhost:8080} */
    public ServiceMetrics(Map<String, String> services) {
        this.services = new LinkedHashMap<>();
        services.forEach((name, url) -> this.services.put(name, URI.create(url.replaceAll("/+$", "") + "/q/metrics")));
    }

    public boolean isEmpty() {
        return services.isEmpty();
    }

    /** One sample of each service that answers; a service that does not is left out of this round. */
    public Map<String, ServiceSample> sample(double atS) {
        Map<String, ServiceSample> out = new LinkedHashMap<>();
        services.forEach((name, uri) -> page(uri).ifPresent(page -> {
            Map<String, Double> v = new TreeMap<>(Prometheus.sums(page, JVM));
            v.replaceAll((k, x) -> k.endsWith("_mb") ? Math.round(x / MB * 10) / 10.0 : x);
            out.put(name, new ServiceSample(name, atS, v));
        }));
        return out;
    }

    /** Each expert's routed rows so far, {@code {layer="L",expert="E"}} → rows, summed over the services named here. */
    public Map<String, Double> expertRows() {
        Map<String, Double> rows = new TreeMap<>();
        services.forEach((name, uri) -> page(uri).ifPresent(page ->
                Prometheus.series(page, "moemesh_expert_tokens_total").forEach((k, v) -> rows.merge(k, v, Double::sum))));
        return rows;
    }

    private Optional<String> page(URI uri) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? Optional.of(r.body()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    @Override
    public void close() {
        http.close();
    }
}
