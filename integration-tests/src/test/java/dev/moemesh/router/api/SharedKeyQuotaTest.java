package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.orchestrator.control.ControlPlane;
import dev.moemesh.orchestrator.control.ControlPlaneGrpcService;
import dev.moemesh.orchestrator.control.ControlPlaneOptions;
import dev.moemesh.testing.Prometheus;
import dev.moemesh.wire.ApiKeyHashes;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Two routers share each API key's bounds through the control plane: the routers are processes (in front of one
 * attention service process), the control plane is the orchestrator's own class on a real gRPC port in this JVM. A
 * key of concurrency 2 gets one place at each router, not two; a key of rate 2/s one request a second at each; when a
 * router stops, the other takes the whole of each bound back. Without the control plane each router would admit a
 * key's whole bounds, N routers N times over.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SharedKeyQuotaTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PAIR = "pair-key";
    private static final String RATED = "shared-rated-key";
    private static final Duration READY = Duration.ofMinutes(3);

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static LocalMesh mesh;
    private static ControlPlane controlPlane;
    private static Server controlPlaneServer;
    private static LocalMesh.Service attention;
    private static LocalMesh.Service routerA;
    private static LocalMesh.Service routerB;

    @BeforeAll
    static void start() throws Exception {
        // heartbeats every 300 ms, a router that stops them gone after 5
        controlPlane = ControlPlane.start(new ControlPlaneOptions(Duration.ofMillis(300), 5, Duration.ofMinutes(5), 0.05,
                1, 0, 0.05, Duration.ofMinutes(5), Duration.ofMinutes(1), Duration.ofMillis(500), 16, Duration.ZERO),
                Optional.empty(), Clock.systemUTC());
        controlPlaneServer = NettyServerBuilder.forPort(0).addService(new ControlPlaneGrpcService(controlPlane)).build()
                .start();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        Path model = TestModels.tiny(Preset.TINY_V3);
        attention = mesh.startAttentionService("shared-quota-attention", model, List.of(), LocalMesh.freePort(),
                List.of(), READY);
        Path keys = LocalMesh.home().resolve("integration-tests/target/shared-quota-api-keys.txt");
        Files.createDirectories(keys.getParent());
        Files.writeString(keys, ApiKeyHashes.line("pair", PAIR) + " concurrency=2\n"
                + ApiKeyHashes.line("shared-rated", RATED) + " rate=2/s\n");
        routerA = startRouter("router-a", model, keys);
        routerB = startRouter("router-b", model, keys);
        // each counts two routers once the control plane has answered it since the other registered
        for (LocalMesh.Service router : List.of(routerA, routerB)) awaitMetric(router, "moemesh_router_peers", 2);
    }

    private static LocalMesh.Service startRouter(String instance, Path model, Path keys) {
        return mesh.startRouter("shared-quota-" + instance, model, List.of(attention.address()), LocalMesh.freePort(),
                LocalMesh.freePort(), List.of("-Drouter.api-keys-file=" + keys,
                        "-Drouter.control-plane=localhost:" + controlPlaneServer.getPort(),
                        "-Drouter.instance-id=" + instance), READY);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (attention != null) signal("CONT");
        if (mesh != null) mesh.close();
        if (controlPlaneServer != null) controlPlaneServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        if (controlPlane != null) controlPlane.close();
    }

    @Test
    @Order(1)
    void twoRoutersAdmitAKeysRateOnceBetweenThemNotOnceEach() throws Exception {
        for (LocalMesh.Service router : List.of(routerA, routerB)) {
            List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
            for (int i = 0; i < 2; i++) burst.add(http.sendAsync(completion(router, RATED, false),
                    HttpResponse.BodyHandlers.ofString()));
            List<Integer> codes = new ArrayList<>();
            String refusal = "";
            for (var f : burst) {
                HttpResponse<String> r = f.get(2, TimeUnit.MINUTES);
                codes.add(r.statusCode());
                if (r.statusCode() == 429) refusal = JSON.readTree(r.body()).get("error").get("message").asText();
            }
            assertEquals(List.of(200, 429), codes.stream().sorted().toList(),
                    router.name() + " admits 1 of the key's 2 a second: " + codes);
            String rank = router == routerA ? "router 1 of 2" : "router 2 of 2";
            assertTrue(refusal.contains("rate of 2/s (" + LocalMesh.home().resolve(
                    "integration-tests/target/shared-quota-api-keys.txt") + " line 2), of which this router admits 1/s as "
                    + rank), refusal);
        }
    }

    /**
     * The attention service is stopped (SIGSTOP) while the key's streams wait on it, so each holds its place for as
     * long as the test needs.
     */
    @Test
    @Order(2) // stops router-b
    void twoRoutersHoldAKeysConcurrencyOnceBetweenThemAndTheOneLeftTakesItAllBack() throws Exception {
        HttpClient holder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        signal("STOP");
        try {
            holder.sendAsync(completion(routerA, PAIR, true), HttpResponse.BodyHandlers.ofString());
            awaitMetric(routerA, "moemesh_router_key_in_flight{key=\"pair\"}", 1);
            HttpResponse<String> second = http.send(completion(routerA, PAIR, false), HttpResponse.BodyHandlers.ofString());
            assertEquals(429, second.statusCode(), "router-a holds its 1 of the key's 2 places: " + second.body());
            JsonNode error = JSON.readTree(second.body()).get("error");
            assertEquals("concurrency_limit_exceeded", error.get("code").asText());
            assertTrue(error.get("message").asText().contains("has 1 of 1 (router 1 of 2's part of its 2) generations in"
                    + " flight"), error.toString());

            holder.sendAsync(completion(routerB, PAIR, true), HttpResponse.BodyHandlers.ofString());
            awaitMetric(routerB, "moemesh_router_key_in_flight{key=\"pair\"}", 1);
            assertEquals(429, http.send(completion(routerB, PAIR, false), HttpResponse.BodyHandlers.ofString())
                    .statusCode(), "router-b holds the other place");

            routerB.process().destroy(); // SIGTERM: it leaves the control plane as it stops
            assertTrue(routerB.process().waitFor(1, TimeUnit.MINUTES), "router-b stopped");
            awaitMetric(routerA, "moemesh_router_peers", 1);
            holder.sendAsync(completion(routerA, PAIR, true), HttpResponse.BodyHandlers.ofString());
            awaitMetric(routerA, "moemesh_router_key_in_flight{key=\"pair\"}", 2);
            assertEquals(429, http.send(completion(routerA, PAIR, false), HttpResponse.BodyHandlers.ofString())
                    .statusCode(), "alone, router-a holds both places and no third");
        } finally {
            holder.shutdownNow();
            signal("CONT");
        }
        awaitMetric(routerA, "moemesh_router_key_in_flight{key=\"pair\"}", 0);
        assertEquals(200, http.send(completion(routerA, PAIR, false), HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    private static HttpRequest completion(LocalMesh.Service router, String key, boolean stream) {
        return HttpRequest.newBuilder(URI.create("http://localhost:" + router.httpPort() + "/v1/completions"))
                .header("content-type", "application/json").header("authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],"
                        + "\"max_tokens\":4,\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}")).build();
    }

    /** SIGSTOP or SIGCONT to the attention service's process. */
    private static void signal(String name) throws InterruptedException {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(attention.process().pid())).inheritIO()
                    .start();
            assertEquals(0, kill.waitFor(), "kill -" + name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One sample of a router's /q/metrics (name and labels as Prometheus prints them); 0 while it does not exist. */
    private static double metric(LocalMesh.Service router, String name) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            return Prometheus.find(client.send(HttpRequest.newBuilder(URI.create("http://localhost:"
                    + router.httpPort() + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body(), name)
                    .orElse(0);
        }
    }

    /** Waits (a minute at most) for the router to show {@code value}. */
    private static void awaitMetric(LocalMesh.Service router, String name, double value) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        double seen;
        while ((seen = metric(router, name)) != value && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(value, seen, router.name() + " " + name);
    }
}
