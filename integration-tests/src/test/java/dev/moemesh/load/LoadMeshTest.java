package dev.moemesh.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.load.report.Percentiles;
import dev.moemesh.load.report.Report;
import dev.moemesh.load.report.ReportWriter;
import dev.moemesh.load.report.Slo;
import dev.moemesh.load.report.StepFigures;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.scenario.ChaosHook;
import dev.moemesh.load.scenario.LoadSettings;
import dev.moemesh.load.scenario.Scenarios;
import dev.moemesh.load.scenario.Target;
import dev.moemesh.load.workload.Lengths;
import dev.moemesh.load.workload.Workload;
import dev.moemesh.localmesh.LocalMesh;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Short scenarios through each door of a real mesh on loopback, every part a process (a Kafka broker, an expert
 * service, an attention service that holds 4 generations and queues 4 more, the orchestrator, the router), as
 * {@code mesh load} runs them: the report's figures are there, ordered and counted; past saturation the REST door's
 * only refusals are 429s with Retry-After, the gRPC door's RESOURCE_EXHAUSTED, and the Kafka door answers every
 * request while its backlog waits in Kafka.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoadMeshTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private LocalMesh mesh;
    private Target target;

    @BeforeAll
    void startTheMesh() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/load"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        LocalMesh.Service broker = mesh.startBroker("kafka", LocalMesh.home().resolve("integration-tests/target/load-kafka"),
                LocalMesh.freePort(), READY);
        LocalMesh.Service experts = mesh.startExpertService("experts", model, "*", LocalMesh.freePort(), READY);
        LocalMesh.Service attention = mesh.startAttentionService("attention", model, List.of(experts.address()),
                LocalMesh.freePort(), List.of("-Dattention.max-sequences=4", "-Dattention.max-queued-requests=4"), READY);
        LocalMesh.Service orchestrator = mesh.startOrchestrator("orchestrator", model, broker.address(),
                List.of(attention.address()), LocalMesh.freePort(), LocalMesh.freePort(),
                List.of("-Dorchestrator.max-in-flight=8"), READY);
        LocalMesh.Service router = mesh.startRouter("router", model, List.of(attention.address()), LocalMesh.freePort(),
                LocalMesh.freePort(), READY);
        Map<String, String> watched = new LinkedHashMap<>();
        for (LocalMesh.Service s : List.of(experts, attention, orchestrator, router)) {
            watched.put(s.name(), "http://localhost:" + s.httpPort());
        }
        target = new Target("http://localhost:" + router.httpPort(), router.address(), broker.address(),
                model.getFileName().toString(), ModelConfig.load(model).vocabSize(), watched);
    }

    @AfterAll
    void stop() {
        if (mesh != null) mesh.close();
    }

    private LoadSettings settings(String door, Arrivals arrivals, int outputTokens, Duration step, double saturation) {
        Workload w = Workload.of(Lengths.parse("uniform:4-12"), new Lengths.Fixed(outputTokens), target.vocabulary());
        return new LoadSettings(door, arrivals, w, step, Duration.ofSeconds(30), new Slo(2000, 500), List.of(), 1,
                saturation, Duration.ofMinutes(1), 1, Duration.ofMinutes(1), Duration.ZERO);
    }

    private static void assertOrdered(String what, Percentiles p) {
        assertTrue(p.count() > 0, what + " has values");
        assertTrue(p.p50() > 0, what + " p50 > 0: " + p);
        assertTrue(p.p50() <= p.p90() && p.p90() <= p.p99() && p.p99() <= p.p999() && p.p999() <= p.max(),
                what + " percentiles ordered: " + p);
    }

    @Test
    void eachDoorBelowSaturationGivesAReportWithItsFiguresInOrder() throws Exception {
        List<StepFigures> steps = new ArrayList<>();
        // two clients at a time never fill the attention service's 8 places; the Kafka door never refuses, so it gets
        // an open loop (Poisson arrivals)
        Map<String, Arrivals> doors = Map.of("rest", new Arrivals.Closed(2), "grpc", new Arrivals.Closed(2),
                "kafka", new Arrivals.Poisson(2));
        for (String door : List.of("rest", "grpc", "kafka")) {
            Scenarios s = new Scenarios(target, settings(door, doors.get(door), 8, Duration.ofSeconds(4), 0),
                    ChaosHook.NONE, System.out);
            StepFigures f = s.run("step").steps().get(0);
            steps.add(f);
            assertEquals(door, f.door());
            assertTrue(f.sent() > 0, door + " sent requests");
            assertEquals(f.sent(), f.answered() + f.failed(), door + ": sent = answered + failed");
            assertEquals(0, f.failed(), door + " below saturation fails nothing: " + f.errors());
            assertTrue(f.requestThroughput() > 0 && f.outputTokensPerS() > 0 && f.goodput() > 0, door + " throughputs");
            assertEquals(8 * f.answered(), f.outputTokens(), door + ": 8 tokens an answer");
            assertOrdered(door + " TTFT", f.ttft());
            assertOrdered(door + " TPOT", f.tpot());
            assertOrdered(door + " ITL", f.itl());
            assertOrdered(door + " E2E", f.e2e());
            assertTrue(f.ttft().p50() <= f.e2e().p50(), door + ": the first token comes before the answer");
            assertTrue(f.services().stream().anyMatch(x -> x.service().equals("attention")
                    && x.values().getOrDefault("heap_used_mb", 0.0) > 0), door + ": the attention service's heap is sampled");
        }
        Path dir = LocalMesh.home().resolve("load-tests/target/load-report");
        ReportWriter.write(new Report("step", "LoadMeshTest", "now", Report.Machine.here(), Map.of(), steps, Map.of()), dir);
        Map<?, ?> json = ReportWriter.read(dir.resolve("report.json"));
        assertEquals(3, ((List<?>) json.get("steps")).size());
        assertTrue(Files.readString(dir.resolve("report.html")).contains("data:image/png;base64,"), "plots inlined");
        assertTrue(Files.size(dir.resolve("latency-over-time.png")) > 1000);
    }

    @Test
    void pastSaturationRefusalsAreOnly429WithRetryAfterOrResourceExhaustedAndTheKafkaDoorLosesNothing() {
        // 32 clients at a time on 8 places: past saturation however fast the machine (a refused client comes back at
        // once), and a backlog the orchestrator (holding 8) leaves in Kafka
        Scenarios s = new Scenarios(target, settings("grpc", new Arrivals.Closed(32), 8, Duration.ofSeconds(3), 1),
                ChaosHook.NONE, System.out);
        Scenarios.Outcome overload = s.run("overload");
        Map<String, StepFigures> byDoor = new LinkedHashMap<>();
        for (StepFigures f : overload.steps()) byDoor.put(f.door(), f);
        assertEquals(List.of("rest", "grpc", "kafka"), List.copyOf(byDoor.keySet()));
        for (StepFigures f : byDoor.values()) {
            assertEquals(f.sent(), f.answered() + f.failed(), f.door() + ": sent = answered + failed");
            assertTrue(f.answered() > 0, f.door() + " still serves what it admits");
            assertEquals(0, f.repeatedTerminalEvents(), f.door() + ": no id answered twice");
        }
        StepFigures rest = byDoor.get("rest");
        assertTrue(rest.failed() > 0, "32 at once on 8 places: the REST door refuses some");
        assertEquals(Map.of("http_429", rest.failed()), rest.errors(), "each a 429 with Retry-After");
        StepFigures grpc = byDoor.get("grpc");
        assertTrue(grpc.failed() > 0, "the gRPC door refuses some");
        assertEquals(Map.of("RESOURCE_EXHAUSTED", grpc.failed()), grpc.errors());
        StepFigures kafka = byDoor.get("kafka");
        assertEquals(0, kafka.failed(), "the Kafka door refuses nothing and loses nothing: " + kafka.errors());
        assertEquals(kafka.sent(), kafka.answered());
        double maxLag = kafka.services().stream().filter(x -> x.service().equals("kafka"))
                .mapToDouble(x -> x.values().get("kafka_lag")).max().orElse(0);
        assertTrue(maxLag > 0, "the backlog waited in Kafka (the orchestrator holds 8): max lag " + maxLag);
    }
}
