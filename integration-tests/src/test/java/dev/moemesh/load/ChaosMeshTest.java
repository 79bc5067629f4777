package dev.moemesh.load;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.scenario.ChaosRun;
import dev.moemesh.load.scenario.Target;
import dev.moemesh.load.workload.Lengths;
import dev.moemesh.load.workload.Workload;
import dev.moemesh.localmesh.LocalMesh;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code mesh chaos}'s scenarios on a real mesh, every part a process (a Kafka broker, two expert services that each
 * hold every expert, an attention service over both, the orchestrator, two routers): steady greedy load through the
 * doors, one process SIGKILLed part-way: an expert service, a router, or the orchestrator (restarted 3 s later, as
 * Kubernetes would). Every request of every door is answered, with the tokens a healthy mesh gave the same request
 * before the kill; none lost, failed or answered twice. Each kill leaves a mesh that still serves everything, so they
 * may come in any order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChaosMeshTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private LocalMesh mesh;
    private LocalMesh.Service victim;
    private LocalMesh.Service secondRouter;
    private LocalMesh.Service orchestrator;
    private Target target;

    @BeforeAll
    void startTheMesh() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/chaos"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        LocalMesh.Service broker = mesh.startBroker("kafka", LocalMesh.home().resolve("integration-tests/target/chaos-kafka"),
                LocalMesh.freePort(), READY);
        LocalMesh.Service survivor = mesh.startExpertService("experts-1", model, "*", LocalMesh.freePort(), READY);
        victim = mesh.startExpertService("experts-2", model, "*", LocalMesh.freePort(), READY);
        LocalMesh.Service attention = mesh.startAttentionService("attention", model,
                List.of(survivor.address(), victim.address()), LocalMesh.freePort(), List.of(), READY);
        orchestrator = mesh.startOrchestrator("orchestrator", model, broker.address(), List.of(attention.address()),
                LocalMesh.freePort(), LocalMesh.freePort(), List.of(), READY);
        LocalMesh.Service router = mesh.startRouter("router", model, List.of(attention.address()), LocalMesh.freePort(),
                LocalMesh.freePort(), READY);
        secondRouter = mesh.startRouter("router-2", model, List.of(attention.address()), LocalMesh.freePort(),
                LocalMesh.freePort(), READY);
        target = new Target("http://localhost:" + router.httpPort() + ",http://localhost:" + secondRouter.httpPort(),
                router.address() + "," + secondRouter.address(), broker.address(), model.getFileName().toString(),
                ModelConfig.load(model).vocabSize(), Map.of());
    }

    @AfterAll
    void stop() {
        if (mesh != null) mesh.close();
    }

    @Test
    void anExpertServiceKilledUnderLoadOfAllThreeDoorsCostsNoRequestAndChangesNoToken() {
        Workload workload = new Workload(Lengths.parse("uniform:4-12"), new Lengths.Fixed(12), List.of(),
                target.vocabulary(), 0, 7, 8);
        ChaosRun run = new ChaosRun(target, workload, new Arrivals.Poisson(2), Duration.ofSeconds(16),
                Duration.ofSeconds(60), Duration.ofSeconds(60), System.out);

        ChaosRun.Outcome outcome = run.run(List.of("rest", "grpc", "kafka"), "grpc", Duration.ofSeconds(6),
                "SIGKILL experts-2", victim::kill);

        assertTrue(outcome.faultAtMs() > 0, "the kill was done");
        assertTrue(!victim.process().isAlive());
        assertEquals(List.of("rest", "grpc", "kafka"), outcome.doors().stream().map(ChaosRun.DoorTally::door).toList());
        assertEveryRequestAnsweredWithTheReferenceTokens(outcome);
    }

    @Test
    void aRouterKilledUnderLoadCostsNoRequestOfAClientThatGoesOnAtTheOtherRouter() {
        // answers long enough that streams are open through the dying router when it dies
        Workload workload = new Workload(Lengths.parse("uniform:4-12"), new Lengths.Fixed(24), List.of(),
                target.vocabulary(), 0, 11, 8);
        ChaosRun run = new ChaosRun(target, workload, new Arrivals.Poisson(2), Duration.ofSeconds(14),
                Duration.ofSeconds(60), Duration.ofSeconds(60), true, System.out);

        ChaosRun.Outcome outcome = run.run(List.of("rest", "grpc"), "grpc", Duration.ofSeconds(5),
                "SIGKILL router-2", secondRouter::kill);

        assertTrue(outcome.faultAtMs() > 0, "the kill was done");
        assertTrue(!secondRouter.process().isAlive());
        assertEveryRequestAnsweredWithTheReferenceTokens(outcome);
        for (ChaosRun.DoorTally d : outcome.doors()) {
            // half the requests after the kill go to the dead router first: the client went on at the other one
            assertTrue(d.sentAgain() + d.resumed() > 0, d.door() + " did not meet the dead router: " + d);
        }
    }

    @Test
    void theOnlyOrchestratorKilledAndStartedAgainUnderLoadOfAllThreeDoorsCostsNoRequest() {
        Workload workload = new Workload(Lengths.parse("uniform:4-12"), new Lengths.Fixed(12), List.of(),
                target.vocabulary(), 0, 13, 8);
        ChaosRun run = new ChaosRun(target, workload, new Arrivals.Poisson(2), Duration.ofSeconds(16),
                Duration.ofSeconds(60), Duration.ofSeconds(60), System.out);
        LocalMesh.Service dead = orchestrator;

        ChaosRun.Outcome outcome = run.run(List.of("rest", "grpc", "kafka"), "grpc", Duration.ofSeconds(5),
                "SIGKILL orchestrator, started again 3 s later", () -> {
                    dead.kill();
                    Thread.sleep(3_000);
                    orchestrator = mesh.restart(dead, READY);
                });

        assertTrue(outcome.faultAtMs() > 0, "the kill and the restart were done");
        assertTrue(!dead.process().isAlive());
        assertTrue(orchestrator.process().isAlive() && orchestrator.process().pid() != dead.process().pid());
        assertEveryRequestAnsweredWithTheReferenceTokens(outcome);
    }

    /** Each door sent enough to tell, and every request it sent was answered, with its reference tokens, once. */
    private static void assertEveryRequestAnsweredWithTheReferenceTokens(ChaosRun.Outcome outcome) {
        outcome.doors().forEach(System.out::println);
        for (ChaosRun.DoorTally d : outcome.doors()) {
            assertTrue(d.sent() >= 10, d.door() + " sent " + d.sent());
            assertEquals(d.sent(), d.answered(), d.door() + ": " + d);
            assertEquals(0, d.unchecked(), d.door() + " answers carry their token ids: " + d);
            assertTrue(d.clean(), d.door() + ": " + d);
        }
    }
}
