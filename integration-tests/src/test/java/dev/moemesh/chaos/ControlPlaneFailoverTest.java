package dev.moemesh.chaos;

import static dev.moemesh.chaos.ExpertHealTest.awaitTokensFromEach;
import static dev.moemesh.chaos.ExpertHealTest.metric;
import static dev.moemesh.router.LocalEngineReference.MODEL;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.chaos.ExpertHealTest.Stream;
import dev.moemesh.localmesh.LocalMesh;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Two orchestrators elect the one that leads the control plane ({@code orchestrator.control-plane.election=kafka}, a
 * real broker); the expert services and the attention service name both. The leader is SIGKILLed while generations
 * run: they complete with the single-process engine's tokens, the other orchestrator leads within its election's
 * session, and the members register with it. Then the only replica of half the experts is SIGKILLed under new
 * generations: the new leader re-places those experts on the survivor (the attention service's report reaches it, not
 * the dead one) and every generation completes with the same tokens. Real processes throughout.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class ControlPlaneFailoverTest {
    private static final List<String> JVM = List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final Duration READY = Duration.ofMinutes(3);
    private static final String LEADING = "moemesh_control_plane_leading";

    @Test
    void theLeaderKilledTheOtherLeadsAndHealsAnExpertServiceThatDiesAfter() throws Exception {
        Path logs = LocalMesh.home().resolve("integration-tests/target/mesh-test-logs");
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), logs, JVM)) {
            LocalMesh.Service broker = mesh.startBroker("failover-kafka",
                    LocalMesh.home().resolve("integration-tests/target/failover-kafka"), LocalMesh.freePort(), READY);
            int firstPort = LocalMesh.freePort();
            int secondPort = LocalMesh.freePort();
            String controlPlanes = "localhost:" + firstPort + ",localhost:" + secondPort;
            List<String> orchestrator = List.of("-Dorchestrator.control-plane.election=kafka",
                    "-Dorchestrator.control-plane.min-replicas=1",
                    // the first placement of a term waits for both expert services, so each keeps its half
                    "-Dorchestrator.control-plane.settle-time=60s",
                    // a 30 s heartbeat deadline: only the attention service's report explains a re-placement in seconds
                    "-Dorchestrator.control-plane.heartbeat-interval=500ms",
                    "-Dorchestrator.control-plane.missed-heartbeats=60");
            LocalMesh.Service first = mesh.startOrchestrator("failover-orchestrator-1", MODEL, broker.address(),
                    List.of("localhost:1"), LocalMesh.freePort(), firstPort, orchestrator, READY);
            await("orchestrator 1 elected", () -> leading(first));
            LocalMesh.Service second = mesh.startOrchestrator("failover-orchestrator-2", MODEL, broker.address(),
                    List.of("localhost:1"), LocalMesh.freePort(), secondPort, orchestrator, READY);
            List<String> member = List.of("-Dexpert.control-plane=" + controlPlanes);
            LocalMesh.Service low = mesh.startExpertService("failover-experts-low", MODEL, "*:0-7",
                    LocalMesh.freePort(), member, READY);
            LocalMesh.Service high = mesh.startExpertService("failover-experts-high", MODEL, "*:8-15",
                    LocalMesh.freePort(), member, READY);
            LocalMesh.Service attention = mesh.startAttentionService("failover-attention", MODEL, List.of(),
                    LocalMesh.freePort(), List.of("-Dattention.control-plane=" + controlPlanes,
                            "-Dattention.expert-heal-timeout=60s"), READY);
            mesh.awaitHealthReady(attention, READY);
            assertEquals(0, metric(second, LEADING), "one leads, the other stands by");
            assertEquals(2, metric(first, "moemesh_control_plane_instances{role=\"expert\",state=\"live\"}"));

            ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
            try {
                // the leader dies under generations: they do not need it
                List<Stream> before = streams(channel, "before", 4);
                awaitTokensFromEach(before);
                first.kill();
                assertAllExact(before);
                await("orchestrator 2 elected", () -> leading(second));
                await("the members registered with orchestrator 2", () -> live(second, "expert") == 2
                        && live(second, "attention") == 1);

                // an expert service dies under generations: the new leader re-places its experts on the survivor
                List<Stream> after = streams(channel, "after", 8);
                awaitTokensFromEach(after);
                high.kill();
                assertAllExact(after);
                assertTrue(Files.readString(second.log()).contains("leads the control plane now"));
                assertTrue(Files.readString(second.log()).contains("taken for dead: '"),
                        "the new leader acted on the attention service's report");
                assertEquals(1, live(second, "expert"), "the dead expert service is gone from the new leader");
                assertTrue(low.process().isAlive());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    private static List<Stream> streams(ManagedChannel channel, String prefix, int count) {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < count; i++) streams.add(Stream.start(channel, prefix + "-" + i, 3 + i, 11, 7 + 2 * i, 1));
        return streams;
    }

    private static void assertAllExact(List<Stream> streams) throws Exception {
        for (Stream s : streams) {
            Stream.Outcome done = s.outcome.get(3, TimeUnit.MINUTES);
            assertEquals("length", done.finish(), s.id + ": " + done.error());
            assertEquals(Arrays.stream(greedyTokens(s.prompt, done.tokens().size())).boxed().toList(), done.tokens(),
                    s.id + ": the single-process engine's tokens, each index once");
        }
    }

    private static boolean leading(LocalMesh.Service orchestrator) {
        try {
            return metric(orchestrator, LEADING) == 1;
        } catch (Exception | AssertionError e) {
            return false;
        }
    }

    private static double live(LocalMesh.Service orchestrator, String role) {
        try {
            return metric(orchestrator, "moemesh_control_plane_instances{role=\"" + role + "\",state=\"live\"}");
        } catch (Exception | AssertionError e) {
            return -1;
        }
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not within 90 s: " + what);
            Thread.sleep(100);
        }
    }
}
