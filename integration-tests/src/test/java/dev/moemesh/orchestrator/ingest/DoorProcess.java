package dev.moemesh.orchestrator.ingest;

import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.testing.Prometheus;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** One orchestrator process serving a test's topics: what its door counted is read from its {@code /q/metrics}. */
record DoorProcess(LocalMesh.Service process) {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /** The value of one series (name and labels as Prometheus writes them); 0 while it is not counted yet. */
    double metric(String series) {
        try {
            String body = HTTP.send(HttpRequest.newBuilder(URI.create("http://localhost:" + process.httpPort()
                    + "/q/metrics")).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString())
                    .body();
            return Prometheus.find(body, series).orElse(0);
        } catch (Exception e) {
            throw new AssertionError("cannot read /q/metrics of " + process.name() + ": " + e, e);
        }
    }

    double generations(String outcome) {
        return metric("moemesh_door_generations_total{door=\"kafka\",outcome=\"" + outcome + "\"}");
    }

    /** Stops it as an operator does (SIGTERM): it abandons what runs, commits what is finished, and exits. */
    void close() {
        process.process().destroy();
        try {
            if (!process.process().waitFor(60, TimeUnit.SECONDS)) process.kill();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
