package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.testing.PlacementWatcher;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Expert services as members of the real orchestrator's control plane, every part a process: they start before
 * the orchestrator, register with what they hold and their slots, heartbeat the rows they compute (which the
 * planner turns into a replica of the hot expert), register again with a restarted orchestrator (bringing the rows
 * it missed), and drain when stopped.
 */
class ExpertServiceMembershipTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    private static final String FINGERPRINT = ModelFingerprint.of(MODEL);
    private static final List<Integer> MOE_LAYERS = List.of(1, 2);
    private static final int EXPERTS_PER_LAYER = 16;
    private static final int HIDDEN = 64;
    /** Rows sent to one expert: enough load for the planner to give it the layer's redundant replica. */
    private static final int HOT_ROWS = 2000;
    /**
     * Heartbeats every 300 ms, and 20 of them missed before an instance is taken for dead, so a drained instance is
     * seen draining for seconds before it is forgotten; one redundant replica per layer, re-planned from the load
     * every 500 ms.
     */
    private static final List<String> CONTROL_PLANE = List.of(
            "-Dorchestrator.control-plane.heartbeat-interval=300ms",
            "-Dorchestrator.control-plane.missed-heartbeats=20",
            "-Dorchestrator.control-plane.redundant-replicas=1",
            "-Dorchestrator.control-plane.rebalance-interval=500ms",
            "-Dorchestrator.control-plane.unload-grace=1s");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void expertServicesRegisterHeartbeatTheirRowsRegisterAgainAfterAnOrchestratorRestartAndDrainWhenStopped(
            @TempDir Path home) throws Exception {
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(),
                LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/membership"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))) {
            int controlPort = LocalMesh.freePort();
            String controlPlane = "localhost:" + controlPort;
            // A holds experts 0-7 of each MoE layer but has room for 6; B holds 8-15, room for all, its id the default
            LocalMesh.Service a = mesh.startExpertService("membership-experts-a", MODEL, "*:0-7", LocalMesh.freePort(),
                    List.of("-Dexpert.control-plane=" + controlPlane, "-Dexpert.instance-id=experts-a",
                            "-Dexpert.expert-slots=6"), READY);
            int bPort = LocalMesh.freePort();
            LocalMesh.Service b = mesh.startExpertService("membership-experts-b", MODEL, "*:8-15", bPort,
                    List.of("-Dexpert.control-plane=" + controlPlane), READY);
            awaitTrue("A ready and saying it cannot reach the orchestrator", () -> controlPlaneStatus(a)
                    .startsWith("cannot reach the control plane at " + controlPlane));

            LocalMesh.Service broker = mesh.startBroker("membership-kafka", home.resolve("kafka"), LocalMesh.freePort(),
                    READY);
            LocalMesh.Service first = startOrchestrator(mesh, "membership-orchestrator-1", broker, controlPort);

            // registered with what they hold and their slots: A keeps at most 6 of its 8 experts per layer
            Placement joined;
            try (PlacementWatcher watch = watch(controlPlane)) {
                joined = watch.await("every expert placed, A serving at most 6 per layer", p -> everyExpertPlaced(p)
                        && MOE_LAYERS.stream().allMatch(l -> served(p, l, a).size() <= 6 && !served(p, l, a).isEmpty())
                        && MOE_LAYERS.stream().allMatch(l -> !served(p, l, b).isEmpty()));
                awaitTrue("A's readiness names its registration", () -> controlPlaneStatus(a)
                        .equals("registered with the control plane at " + controlPlane + " as 'experts-a'"));
                String bStatus = controlPlaneStatus(b);
                assertTrue(bStatus.matches("registered with the control plane at " + controlPlane + " as '.+:" + bPort
                        + "'"), "B is registered as <hostname>:<gRPC port>: " + bStatus);
                assertTrue(Files.readString(first.log()).contains("instance 'experts-a' registered: EXPERT at "
                        + a.address() + ", 16 experts held, 6 expert slots"), "the orchestrator's log: " + first.log());

                // heartbeats carry the rows A computes: its hot expert gets the layer's redundant replica, on B
                int hot = onlyOn(joined, 1, a);
                runExperts(a, 1, hot);
                watch.await("a second replica of 1:" + hot + ", on B", p -> addresses(p, 1, hot)
                        .equals(Set.of(a.address(), b.address())));
            }

            // the orchestrator restarts: rows A computes meanwhile reach its successor once A has registered again
            first.kill();
            int hot = heldBy(a, 2).stream().filter(e -> e != 0).findFirst().orElseThrow();
            runExperts(a, 2, hot);
            LocalMesh.Service successor = startOrchestrator(mesh, "membership-orchestrator-2", broker, controlPort);
            try (PlacementWatcher watch = watch(controlPlane)) {
                watch.await("both registered again and a second replica of 2:" + hot, p -> everyExpertPlaced(p)
                        && addresses(p, 2, hot).equals(Set.of(a.address(), b.address())));
                assertEquals(2, instances(successor, "live"));

                // stopped, A drains: a placement without it, while the orchestrator still counts it as draining
                a.process().destroy();
                watch.await("a placement without A", p -> everyExpertPlaced(p)
                        && p.getExpertsList().stream().flatMap(e -> e.getReplicasList().stream())
                                .noneMatch(r -> r.getAddress().equals(a.address())));
                awaitTrue("A counted as draining, not dead", () -> instances(successor, "draining") == 1);
                assertTrue(a.process().waitFor(30, TimeUnit.SECONDS), "A stops after draining");
            }
        }
    }

    private static LocalMesh.Service startOrchestrator(LocalMesh mesh, String name, LocalMesh.Service broker,
                                                       int controlPort) {
        // no attention service: this test uses the control plane only, not the Kafka door's requests
        return mesh.startOrchestrator(name, MODEL, broker.address(), List.of("localhost:" + LocalMesh.freePort()),
                LocalMesh.freePort(), controlPort, CONTROL_PLANE, READY);
    }

    private static boolean everyExpertPlaced(Placement p) {
        return p.getExpertsCount() == MOE_LAYERS.size() * EXPERTS_PER_LAYER
                && p.getExpertsList().stream().allMatch(e -> e.getReplicasCount() > 0);
    }

    private static Set<String> addresses(Placement p, int layer, int expert) {
        return p.getExpertsList().stream().filter(e -> e.getLayer() == layer && e.getExpert() == expert)
                .flatMap(e -> e.getReplicasList().stream()).map(Replica::getAddress).collect(Collectors.toSet());
    }

    /** The experts of {@code layer} the placement sends to {@code service}. */
    private static Set<Integer> served(Placement p, int layer, LocalMesh.Service service) {
        return p.getExpertsList().stream().filter(e -> e.getLayer() == layer && e.getReplicasList().stream()
                .anyMatch(r -> r.getAddress().equals(service.address()))).map(ExpertReplicas::getExpert)
                .collect(Collectors.toSet());
    }

    /** An expert of {@code layer} placed on {@code service} alone, not 0 (an idle layer's redundant replica's). */
    private static int onlyOn(Placement p, int layer, LocalMesh.Service service) {
        return p.getExpertsList().stream().filter(e -> e.getLayer() == layer && e.getExpert() != 0
                        && addressesOf(e).equals(Set.of(service.address()))).map(ExpertReplicas::getExpert)
                .findFirst().orElseThrow(() -> new AssertionError("no expert of layer " + layer + " on "
                        + service.name() + " alone in " + p));
    }

    private static Set<String> addressesOf(ExpertReplicas e) {
        return e.getReplicasList().stream().map(Replica::getAddress).collect(Collectors.toSet());
    }

    private static List<Integer> heldBy(LocalMesh.Service service, int layer) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(service.address()).usePlaintext().build();
        try {
            return ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .describe(DescribeRequest.getDefaultInstance()).getHeldList().stream()
                    .filter(e -> e.getLayer() == layer).map(LayerExpert::getExpert).toList();
        } finally {
            channel.shutdownNow();
        }
    }

    /** {@link #HOT_ROWS} rows (zeros: only their count matters here) through one expert of the service. */
    private static void runExperts(LocalMesh.Service service, int layer, int expert) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(service.address()).usePlaintext().build();
        try {
            ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).runExperts(
                    RunExpertsRequest.newBuilder().setModelFingerprint(FINGERPRINT).setLayer(layer).setHidden(HIDDEN)
                            .addExpertIds(expert).addGroupSizes(HOT_ROWS)
                            .setHiddenStates(ByteString.copyFrom(new byte[HOT_ROWS * HIDDEN * 2])).build());
        } finally {
            channel.shutdownNow();
        }
    }

    /** The {@code control_plane} data of the expert service's readiness check ("" while it has none). */
    private static String controlPlaneStatus(LocalMesh.Service service) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:"
                    + service.httpPort() + "/q/health/ready")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), "ready whether or not the orchestrator is there: " + r.body());
            for (JsonNode check : JSON.readTree(r.body()).path("checks")) {
                if (check.path("name").asText().equals("experts-loaded")) {
                    return check.path("data").path("control_plane").asText();
                }
            }
            return "";
        }
    }

    /** {@code moemesh_control_plane_instances{role="expert",state}} from the orchestrator's metrics. */
    private static int instances(LocalMesh.Service orchestrator, String state) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + orchestrator.httpPort()
                    + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = Pattern.compile("^moemesh_control_plane_instances\\{(?=[^}]*role=\"expert\")(?=[^}]*state=\""
                    + state + "\")[^}]*} ([0-9.]+)$", Pattern.MULTILINE).matcher(metrics);
            if (!m.find()) throw new AssertionError("no expert instances " + state + " in the metrics:\n" + metrics);
            return (int) Double.parseDouble(m.group(1));
        }
    }

    private interface Check {
        boolean holds() throws Exception;
    }

    private static void awaitTrue(String what, Check check) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!check.holds()) {
            if (System.nanoTime() > deadline) throw new AssertionError("waited " + WAIT.toSeconds() + " s for " + what);
            Thread.sleep(100);
        }
    }

    private static PlacementWatcher watch(String controlPlane) {
        return PlacementWatcher.connect(controlPlane, "membership-test", FINGERPRINT, WAIT);
    }
}
