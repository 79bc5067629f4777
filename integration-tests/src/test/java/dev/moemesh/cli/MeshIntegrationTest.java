package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertStats;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.GetExpertStatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The mesh as users run it: expert services and attention services as separate processes on loopback gRPC,
 * started from their packaged applications. Greedy tokens through the mesh must equal the single-process engine's.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MeshIntegrationTest {
    private static final Duration READY = Duration.ofMinutes(3);

    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private LocalMesh mesh;
    private LocalMesh.Service all;
    private LocalMesh.Service low;
    private LocalMesh.Service high;
    private LocalMesh.Service mid;
    private List<GenerationRequest> requests;
    private List<Generation> expected;

    @BeforeAll
    void startServicesAndComputeTheReference() {
        requests = List.of(request("a", 14, 0, 17, 42), request("b", 9, 5), request("c", 20, 1, 2, 3, 4, 5, 6, 7, 8, 9),
                request("d", 6, 200, 100, 50, 25, 12, 6, 3, 1, 0, 7, 77, 177, 277));
        expected = new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(requests);

        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        all = expert("experts-all", "*");
        low = expert("experts-low", "*:0-5");
        high = expert("experts-high", "*:6-15");
        mid = expert("experts-mid", "*:3-10");
    }

    @AfterAll
    void stop() {
        if (mesh != null) mesh.close();
    }

    private static GenerationRequest request(String id, int maxTokens, int... prompt) {
        return new GenerationRequest(id, prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true));
    }

    private LocalMesh.Service expert(String name, String experts) {
        return mesh.startExpertService(name, model, experts, LocalMesh.freePort(), READY);
    }

    private LocalMesh.Service attention(String name, LocalMesh.Service... experts) {
        return attention(name, List.of(), experts);
    }

    private LocalMesh.Service attention(String name, List<String> properties, LocalMesh.Service... experts) {
        List<String> addresses = new ArrayList<>();
        for (LocalMesh.Service e : experts) addresses.add(e.address());
        return mesh.startAttentionService(name, model, addresses, LocalMesh.freePort(), properties, READY);
    }

    /** Sends every request at once, so they share the attention service's batches, and returns their generations. */
    private List<Generation> generateConcurrently(LocalMesh.Service attention) throws Exception {
        List<CompletableFuture<Generation>> futures = new ArrayList<>();
        for (GenerationRequest r : requests) {
            futures.add(CompletableFuture.supplyAsync(() -> {
                try (MeshClient client = new MeshClient(attention.address())) {
                    return client.generate(r, "");
                }
            }));
        }
        List<Generation> out = new ArrayList<>();
        for (CompletableFuture<Generation> f : futures) out.add(f.get(2, TimeUnit.MINUTES));
        return out;
    }

    private void assertSameTokensAsTheLocalEngine(List<Generation> got) {
        for (int i = 0; i < requests.size(); i++) {
            assertEquals(FinishReason.LENGTH, got.get(i).finishReason(), requests.get(i).id() + ": " + got.get(i).error());
            assertArrayEquals(expected.get(i).tokenIds(), got.get(i).tokenIds(), "request " + requests.get(i).id());
        }
    }

    @Test
    void oneExpertServiceHoldingEverything() throws Exception {
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention("attention-1", all)));
    }

    @Test
    void twoExpertServicesWithDisjointExperts() throws Exception {
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention("attention-2", low, high)));
    }

    @Test
    void twoMicroBatchesTakingTurnsGiveTheSameTokens() throws Exception {
        assertSameTokensAsTheLocalEngine(generateConcurrently(
                attention("attention-2-micro", List.of("-Dattention.micro-batches=2"), low, high)));
    }

    @Test
    void threeExpertServicesWithReplicasShareTheWork() throws Exception {
        long midBefore = tokens(mid);
        long lowBefore = tokens(low);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention("attention-3", low, high, mid)));
        assertTrue(tokens(mid) > midBefore, "the replica service computed some of the rows");
        assertTrue(tokens(low) > lowBefore, "the first holder computed some of the rows");
    }

    @Test
    void aDeadExpertServiceEndsRequestsWithAClearErrorAndServingResumesWhenItIsBack() throws Exception {
        int victimPort = LocalMesh.freePort();
        LocalMesh.Service victim = mesh.startExpertService("experts-victim", model, "*:6-15", victimPort, READY);
        // a short heal timeout: the dead service is not back within it, so the requests wait that long, then fail
        LocalMesh.Service attention = attention("attention-4", List.of("-Dattention.expert-heal-timeout=2s"), low,
                victim);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention));

        victim.kill();
        List<Generation> failed = generateConcurrently(attention);
        for (Generation g : failed) {
            assertEquals(FinishReason.ERROR, g.finishReason(), g.id());
            assertNotNull(g.error());
            assertTrue(g.error().contains(victim.address()), "the error names the dead service: " + g.error());
            assertTrue(g.error().matches("layer \\d+ expert \\d+ has no replica left to try: .*"),
                    "the error names the expert no other service holds: " + g.error());
            // the first to wait waits the heal timeout; one after it, under the same placement, does not wait again
            assertTrue(g.error().endsWith("; no placement served it within 2000 ms (attention.expert-heal-timeout)")
                    || g.error().endsWith("; not waiting: a heal under placement version 1 timed out, and no newer"
                    + " placement has come"), "the error says why the step did not heal: " + g.error());
        }
        // still serving: it answers, and holds no sequence or KV block of the failed requests
        AttentionStats stats = stats(attention);
        assertEquals(0, stats.getRunningSequences());
        assertEquals(0, stats.getKvBlocksUsed());

        mesh.startExpertService("experts-victim-again", model, "*:6-15", victimPort, READY);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention));
    }

    @Test
    void whileTheOnlyHolderOfAnExpertIsDownOnlyTheRequestsRoutedToItWaitAndTheyGoOnWhenItIsBack() throws Exception {
        // an expert some requests are routed to and others never are, from the model itself
        Map<String, Set<Long>> used = expertsEachRequestUses();
        long pick = used.values().stream().flatMap(Set::stream).distinct().sorted()
                .filter(e -> used.values().stream().anyMatch(u -> !u.contains(e)))
                .findFirst().orElseThrow(() -> new AssertionError("every request uses every expert"));
        int layer = (int) (pick >>> 32);
        int expert = (int) pick;
        long routedToIt = used.values().stream().filter(u -> u.contains(pick)).count();
        int experts = expertsPerLayer();
        StringBuilder rest = new StringBuilder();
        for (int l : ModelConfig.load(model).moeLayers()) {
            if (l != layer) {
                rest.append(',').append(l).append(":*");
                continue;
            }
            if (expert > 0) rest.append(',').append(l).append(":0-").append(expert - 1);
            if (expert < experts - 1) rest.append(',').append(l).append(':').append(expert + 1).append('-').append(experts - 1);
        }
        int port = LocalMesh.freePort();
        LocalMesh.Service lone = mesh.startExpertService("experts-lone", model, layer + ":" + expert, port, READY);
        LocalMesh.Service others = expert("experts-but-one", rest.substring(1));
        LocalMesh.Service attention = attention("attention-7", List.of("-Dattention.expert-heal-timeout=2m",
                "-Dattention.expert-breaker.open-for=300ms"), others, lone);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention));

        lone.kill();
        CompletableFuture<List<Generation>> running = CompletableFuture.supplyAsync(() -> {
            try {
                return generateConcurrently(attention);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // the requests never routed to it end; those routed to it wait, set aside
        long giveUp = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        AttentionStats stats = stats(attention);
        while (!(stats.getParkedSequences() == routedToIt && stats.getRunningSequences() == routedToIt
                && stats.getWaitingSequences() == 0) && System.nanoTime() < giveUp) {
            Thread.sleep(20);
            stats = stats(attention);
        }
        assertEquals(routedToIt, stats.getParkedSequences(), "the requests routed to " + layer + ":" + expert
                + " wait: " + stats);
        assertEquals(routedToIt, stats.getRunningSequences(), "the others ended meanwhile: " + stats);
        assertFalse(running.isDone());

        mesh.startExpertService("experts-lone-again", model, layer + ":" + expert, port, READY);
        assertSameTokensAsTheLocalEngine(running.get(2, TimeUnit.MINUTES));
        assertEquals(0, stats(attention).getParkedSequences());
    }

    /** For each request, alone on the single-process engine: the (layer << 32 | expert) its tokens are routed to. */
    private Map<String, Set<Long>> expertsEachRequestUses() {
        Map<String, Set<Long>> used = new HashMap<>();
        String[] current = {null};
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(model)) {
            LocalExperts local = LocalExperts.loadAll(new WeightReader(ckpt), ModelConfig.load(model));
            Model recording = Model.load(model, 0, batch -> {
                local.run(batch);
                Set<Long> set = used.computeIfAbsent(current[0], k -> new HashSet<>());
                for (int g = 0; g < batch.groups(); g++) set.add(((long) batch.layer() << 32) | batch.expertIds()[g]);
            });
            for (GenerationRequest r : requests) {
                current[0] = r.id();
                new BatchingEngine(recording, EngineOptions.defaults()).generate(List.of(r));
            }
        }
        return used;
    }

    private int expertsPerLayer() {
        return ModelConfig.load(model).nRoutedExperts();
    }

    @Test
    void killingOneOfTwoReplicasMidStreamLosesNoRequest() throws Exception {
        LocalMesh.Service doomed = expert("experts-replica-doomed", "*");
        LocalMesh.Service survivor = expert("experts-replica-survivor", "*");
        LocalMesh.Service attention = attention("attention-6", doomed, survivor);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention));
        assertTrue(tokens(doomed) > 0 && tokens(survivor) > 0, "both replicas take work while both are up");

        CompletableFuture<List<List<Generation>>> rounds = CompletableFuture.supplyAsync(() -> {
            List<List<Generation>> out = new ArrayList<>();
            try {
                for (int round = 0; round < 3; round++) out.add(generateConcurrently(attention));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return out;
        });
        long giveUp = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (stats(attention).getRunningSequences() == 0 && System.nanoTime() < giveUp) Thread.sleep(2);
        doomed.kill();
        for (List<Generation> round : rounds.get(5, TimeUnit.MINUTES)) assertSameTokensAsTheLocalEngine(round);
        assertSameTokensAsTheLocalEngine(generateConcurrently(attention));

        AttentionStats stats = stats(attention);
        assertEquals(doomed.address(), stats.getExpertServices(0).getAddress());
        assertNotEquals("closed", stats.getExpertServices(0).getBreaker(), "the dead replica is passed over");
        assertEquals("closed", stats.getExpertServices(1).getBreaker());
    }

    @Test
    void anExpertHeldByNoServiceFailsTheRequestsRoutedToIt() throws Exception {
        LocalMesh.Service attention = attention("attention-5", low);
        for (Generation g : generateConcurrently(attention)) {
            assertEquals(FinishReason.ERROR, g.finishReason(), g.id());
            assertTrue(g.error().contains("is held by no expert service"), g.error());
        }
    }

    @Test
    void inProductionEachRequestIsLoggedAsAJsonLineCarryingItsRequestId() throws Exception {
        // the JSON console format is the services' default; LocalMesh turns it off for its log files, this turns it on
        LocalMesh.Service attention = attention("attention-json", List.of("-Dquarkus.log.console.json.enabled=true"),
                low, high);
        generateConcurrently(attention);
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        java.util.Set<String> logged = new java.util.TreeSet<>();
        for (String line : java.nio.file.Files.readAllLines(attention.log())) {
            if (!line.startsWith("{")) continue; // the JVM's own notices on stderr
            var record = json.readTree(line);
            if (record.path("message").asText().startsWith("request ")) {
                logged.add(record.path("mdc").path("request_id").asText());
                assertTrue(record.path("message").asText().contains(record.path("mdc").path("request_id").asText()),
                        line);
            }
        }
        assertEquals(new java.util.TreeSet<>(requests.stream().map(GenerationRequest::id).toList()), logged);
    }

    @Test
    void expertPingReportsTheRoundTripAndTheServicesComputeTime() throws Exception {
        MeshCliTest.Run r = MeshCliTest.run("expert-ping", "--target", low.address(), "--rows", "2", "--calls", "30");
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.lastLine());
        assertEquals(2, json.get("rows").asInt());
        assertTrue(json.get("compute_p50_us").asLong() >= 0);
        assertTrue(json.get("round_trip_p50_us").asLong() >= json.get("compute_p50_us").asLong(),
                "a round trip includes the compute: " + json);
    }

    @Test
    void expertPingSendsRoutedLayersToSeveralServicesAndSplitsTheirOverhead() throws Exception {
        MeshCliTest.Run r = MeshCliTest.run("expert-ping", "--target", low.address() + "," + high.address(),
                "--rows", "1", "--top-k", "6", "--calls", "60");
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.lastLine());
        assertEquals(2, json.get("targets").asInt());
        assertEquals(6, json.get("top_k").asInt());
        assertTrue(json.get("compute_p50_us").asLong() > 0, "six experts of one token computed: " + json);
        assertTrue(json.get("round_trip_p50_us").asLong() >= json.get("overhead_p50_us").asLong(), json.toString());

        MeshCliTest.Run unrouted = MeshCliTest.run("expert-ping", "--target", low.address() + "," + high.address());
        assertEquals(1, unrouted.code(), "several targets without --top-k: " + unrouted.err());
        assertTrue(unrouted.err().contains("several targets need --top-k"), unrouted.err());
        MeshCliTest.Run tooMany = MeshCliTest.run("expert-ping", "--target", low.address(), "--rows", "1",
                "--top-k", "7");
        assertEquals(1, tooMany.code());
        assertTrue(tooMany.err().contains("no layer has 7 experts held by"), tooMany.err());
    }

    @Test
    void aServiceThatFailsAtStartIsReportedByItsCauseInOneLine() {
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> expert("experts-misconfigured", "*:99"));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().startsWith("experts-misconfigured exited with code 1 before it was ready:"
                + " expert.experts = '*:99': expert 99 is past the model's 16"), e.getMessage());
        assertTrue(e.getMessage().endsWith("experts-misconfigured.log)"), e.getMessage());
    }

    @Test
    void theDemoAnswersThroughKafkaGrpcAndRestWithTheLocalEnginesTokens(@org.junit.jupiter.api.io.TempDir Path home)
            throws Exception {
        MeshCliTest.Run r = MeshCliTest.run("demo", "--home", home.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("same tokens: yes"), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.lastLine());
        assertTrue(json.get("same_tokens").asBoolean(), r.lastLine());
        var local = json.get("local");
        assertEquals(16, local.get("token_ids").size());
        for (String door : List.of("kafka", "grpc", "rest")) {
            assertEquals(local.get("text"), json.get(door).get("text"), door);
            assertEquals("length", json.get(door).get("finish_reason").asText(), door);
        }
        assertEquals(local.get("token_ids"), json.get("kafka").get("token_ids"));
        assertEquals(local.get("token_ids"), json.get("grpc").get("token_ids"));
        assertEquals(local.get("token_ids"), json.get("rest").get("token_ids"));
        // the redundancy the control plane's placement gives the routed experts
        assertTrue(java.util.regex.Pattern.compile("(?m)^redundancy +placement version \\d+: \\d+( to \\d+)? replicas?"
                + " per routed expert \\(\\d+ experts on \\d+ expert services?\\)").matcher(r.err()).find(), r.err());
        for (String process : List.of("kafka ", "orchestrator ", "router-service ", "attention-service ")) {
            assertTrue(r.err().contains(process), "no line for " + process + " in:\n" + r.err());
        }
        // each door's request is logged with its id by the door and by the attention service that ran it
        String orchestratorLog = java.nio.file.Files.readString(home.resolve("logs/orchestrator.log"));
        String routerLog = java.nio.file.Files.readString(home.resolve("logs/router-service.log"));
        String attentionLog = java.nio.file.Files.readString(home.resolve("logs/attention-service.log"));
        assertTrue(orchestratorLog.contains(" demo-kafka request demo-kafka on attention service "), orchestratorLog);
        var routed = java.util.regex.Pattern.compile(" (cmpl-\\S+|inf-\\S+) request \\1 on attention service ")
                .matcher(routerLog).results().map(m -> m.group(1)).toList();
        assertEquals(2, routed.size(), routerLog);
        for (String id : routed) assertTrue(attentionLog.contains(" " + id + " request " + id + ": finish length"), id);
        assertTrue(attentionLog.contains(" demo-kafka request demo-kafka: finish length"), attentionLog);
        // a newcomer is told why the text is noise, and no service without a GPU warns about one
        assertTrue(r.err().contains("has random weights (written by make-model), so its text is noise"), r.err());
        try (var logs = java.nio.file.Files.list(home.resolve("logs"))) {
            for (Path log : logs.toList()) {
                String text = java.nio.file.Files.readString(log);
                assertFalse(text.contains("Failed to detect GPU"), log + " warns about a GPU:\n" + text);
            }
        }
    }

    private static AttentionStats stats(LocalMesh.Service attention) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
        try {
            return AttentionServiceGrpc.newBlockingStub(channel).getAttentionStats(
                    GetAttentionStatsRequest.getDefaultInstance());
        } finally {
            channel.shutdownNow();
        }
    }

    private static long tokens(LocalMesh.Service expertService) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(expertService.address()).usePlaintext().build();
        try {
            ExpertStats stats = ExpertServiceGrpc.newBlockingStub(channel).getExpertStats(
                    GetExpertStatsRequest.getDefaultInstance());
            return stats.getTokensList().stream().mapToLong(ExpertTokens::getTokens).sum();
        } finally {
            channel.shutdownNow();
        }
    }
}
