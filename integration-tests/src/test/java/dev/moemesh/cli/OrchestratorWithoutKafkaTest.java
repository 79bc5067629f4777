package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An orchestrator started before its Kafka broker (a broker outage, or pods starting in any order): the process
 * stays up and live, its control plane serves, readiness says what it waits for, and once the broker comes the
 * Kafka door starts on its own.
 */
class OrchestratorWithoutKafkaTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /** Status and body of GET path, or status 0 while nothing listens yet. */
    private record Answer(int status, String body) {}

    private static Answer get(int port, String path) throws InterruptedException {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r.body());
        } catch (java.io.IOException e) {
            return new Answer(0, e.toString());
        }
    }

    private static Answer awaitAnswer(int port, String path, java.util.function.Predicate<Answer> wanted, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + READY.toNanos();
        Answer last = null;
        while (System.nanoTime() < deadline) {
            last = get(port, path);
            if (wanted.test(last)) return last;
            Thread.sleep(200);
        }
        throw new AssertionError("not within " + READY.toSeconds() + " s: " + what + "; last " + path + ": " + last);
    }

    @Test
    void withoutItsBrokerTheControlPlaneServesAndTheKafkaDoorStartsOnceTheBrokerComes(@TempDir Path home)
            throws Exception {
        Path model = TestModels.tiny(Preset.TINY_V3);
        String fingerprint = ModelFingerprint.of(model);
        int kafkaPort = LocalMesh.freePort();
        int httpPort = LocalMesh.freePort();
        int controlPort = LocalMesh.freePort();
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/nokafka"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))) {
            LocalMesh.Service orchestrator = mesh.launchOrchestrator("nokafka-orchestrator", model,
                    "localhost:" + kafkaPort, List.of("localhost:1"), httpPort, controlPort, List.of());

            awaitAnswer(httpPort, "/q/health/live", a -> a.status() == 200, "live without its broker");
            Answer ready = awaitAnswer(httpPort, "/q/health/ready",
                    a -> a.status() == 503 && a.body().contains("not usable yet"), "readiness naming the broker");
            assertTrue(ready.body().contains("localhost:" + kafkaPort), ready.body());

            ManagedChannel channel = NettyChannelBuilder.forTarget("localhost:" + controlPort).usePlaintext().build();
            try {
                var control = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
                assertTrue(control.register(RegisterRequest.newBuilder().setInstanceId("attention-0")
                        .setRole(Role.ROLE_ATTENTION).setAddress("localhost:9200").setModelFingerprint(fingerprint)
                        .build()).getHeartbeatIntervalMs() > 0, "the control plane registers instances");
                Iterator<Placement> placements = control.watchPlacement(WatchPlacementRequest.newBuilder()
                        .setInstanceId("attention-0").setModelFingerprint(fingerprint).build());
                assertEquals(0, placements.next().getVersion(), "and serves placements (none placed yet)");
            } finally {
                channel.shutdownNow();
            }
            assertTrue(orchestrator.process().isAlive());

            LocalMesh.Service broker = mesh.startBroker("nokafka-kafka", home.resolve("kafka"), kafkaPort, READY);
            mesh.awaitHealthReady(orchestrator, READY);
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.address()))) {
                assertTrue(admin.listTopics().names().get(30, TimeUnit.SECONDS).containsAll(List.of(
                        "inference.requests", "inference.responses", "inference.dlq")),
                        "the door made its topics once the broker came");
            }
        }
    }
}
