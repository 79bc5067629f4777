package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.GetExpertStatsRequest;
import dev.moemesh.testing.Prometheus;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Speculative decoding through the mesh: an attention service drafting with the MTP module, whose routed experts live
 * on two expert services like every layer's, gives the single-process engine's plain greedy tokens, also when one
 * of two replicas dies while it drafts.
 */
class MeshSpeculativeDecodingTest {
    private static final Duration READY = Duration.ofMinutes(3);

    private static GenerationRequest request(String id, int maxTokens, int... prompt) {
        return new GenerationRequest(id, prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true));
    }

    @Test
    void draftingThroughTheMeshGivesThePlainGreedyTokens() throws Exception {
        // drafts agree with the main model after half the tokens: accepted and rejected drafts both occur
        Path model = TestModels.predictable(Preset.TINY_V3, 0.5);
        int mtpLayer = 3; // TINY_V3 has 3 layers: the MTP layer is model.layers.3
        List<GenerationRequest> requests = List.of(request("a", 14, 0, 17, 42), request("b", 9, 5),
                request("c", 20, 1, 2, 3, 4, 5, 6, 7, 8, 9), request("d", 6, 200, 100, 50, 25, 12, 6, 3, 1, 0, 7, 77));
        List<Generation> expected = new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(requests);

        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(),
                LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))) {
            LocalMesh.Service low = mesh.startExpertService("experts-mtp-low", model, "*:0-7", LocalMesh.freePort(), READY);
            LocalMesh.Service high = mesh.startExpertService("experts-mtp-high", model, "*:8-15", LocalMesh.freePort(), READY);
            LocalMesh.Service attention = mesh.startAttentionService("attention-mtp", model,
                    List.of(low.address(), high.address()), LocalMesh.freePort(),
                    List.of("-Dattention.speculative-tokens=2"), READY);

            List<CompletableFuture<Generation>> futures = submit(attention, requests);
            assertPlainGreedyTokens(expected, futures);
            // the counters are published at the end of the step that sent the last completion, which may come
            // just after it: wait for every token, then both views hold the same final counts
            long tokens = requests.stream().mapToLong(r -> r.sampling().maxTokens()).sum();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (attentionStats(attention).getGeneratedTokens() < tokens) {
                assertTrue(System.nanoTime() < deadline, "waited 10 s for the last step's counters");
                Thread.sleep(10);
            }
            double drafted = Prometheus.sample(attention.httpPort(), "moemesh_attention_speculative_drafted_total");
            double accepted = Prometheus.sample(attention.httpPort(), "moemesh_attention_speculative_accepted_total");
            assertTrue(drafted > 0 && accepted > 0 && accepted < drafted, "drafted " + drafted + ", accepted " + accepted);
            AttentionStats stats = attentionStats(attention);
            assertEquals((long) drafted, stats.getSpeculativeDrafted(), "gRPC stats and Prometheus count the same drafts");
            assertEquals((long) accepted, stats.getSpeculativeAccepted());
            // each request's first token comes from its prefill, the rest from decode steps: accepted drafts make
            // fewer steps than those tokens
            long decoded = stats.getGeneratedTokens() - requests.size();
            assertTrue(stats.getDecodeSteps() > 0 && stats.getDecodeSteps() < decoded,
                    "decode steps " + stats.getDecodeSteps() + " for " + decoded + " decoded tokens");
            assertTrue(mtpLayerTokens(low, mtpLayer) + mtpLayerTokens(high, mtpLayer) > 0,
                    "the MTP layer's routed experts ran on the expert services");
        }
    }

    @Test
    void killingAReplicaWhileDraftingLosesNoRequest() throws Exception {
        Path model = TestModels.predictable(Preset.TINY_V3, 0.5);
        List<GenerationRequest> requests = List.of(request("k1", 120, 0, 17, 42), request("k2", 100, 5),
                request("k3", 110, 1, 2, 3, 4, 5, 6, 7, 8, 9), request("k4", 90, 200, 100, 50, 25, 12, 6, 3, 1));
        List<Generation> expected = new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(requests);

        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(),
                LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))) {
            // two replicas of every expert, the MTP layer's included
            LocalMesh.Service doomed = mesh.startExpertService("experts-mtp-doomed", model, "*", LocalMesh.freePort(), READY);
            LocalMesh.Service survivor = mesh.startExpertService("experts-mtp-survivor", model, "*", LocalMesh.freePort(),
                    READY);
            LocalMesh.Service attention = mesh.startAttentionService("attention-mtp-failover", model,
                    List.of(doomed.address(), survivor.address()), LocalMesh.freePort(),
                    List.of("-Dattention.speculative-tokens=2"), READY);

            List<CompletableFuture<Generation>> futures = submit(attention, requests);
            long giveUp = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            while (attentionStats(attention).getSpeculativeDrafted() == 0 && System.nanoTime() < giveUp) Thread.sleep(2);
            assertTrue(attentionStats(attention).getGeneratedTokens() < 420, "the replica dies while the requests decode");
            doomed.kill();
            assertPlainGreedyTokens(expected, futures);
            AttentionStats stats = attentionStats(attention);
            assertTrue(stats.getSpeculativeAccepted() > 0, "drafts were accepted: " + stats);
            assertEquals(doomed.address(), stats.getExpertServices(0).getAddress());
            assertNotEquals("closed", stats.getExpertServices(0).getBreaker(), "the dead replica is passed over");
        }
    }

    /** Each request on a client of its own, all at once. */
    private static List<CompletableFuture<Generation>> submit(LocalMesh.Service attention,
                                                              List<GenerationRequest> requests) {
        List<CompletableFuture<Generation>> futures = new ArrayList<>();
        for (GenerationRequest r : requests) {
            futures.add(CompletableFuture.supplyAsync(() -> {
                try (MeshClient client = new MeshClient(attention.address())) {
                    return client.generate(r, "");
                }
            }));
        }
        return futures;
    }

    /** Every generation ran to its length with the single-process engine's tokens. */
    private static void assertPlainGreedyTokens(List<Generation> expected, List<CompletableFuture<Generation>> futures)
            throws Exception {
        for (int i = 0; i < expected.size(); i++) {
            Generation got = futures.get(i).get(2, TimeUnit.MINUTES);
            assertEquals(FinishReason.LENGTH, got.finishReason(), expected.get(i).id() + ": " + got.error());
            assertArrayEquals(expected.get(i).tokenIds(), got.tokenIds(), "request " + expected.get(i).id());
        }
    }

    private static AttentionStats attentionStats(LocalMesh.Service attention) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
        try {
            return AttentionServiceGrpc.newBlockingStub(channel).getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        } finally {
            channel.shutdownNow();
        }
    }

    private static long mtpLayerTokens(LocalMesh.Service expertService, int layer) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(expertService.address()).usePlaintext().build();
        try {
            return ExpertServiceGrpc.newBlockingStub(channel).getExpertStats(GetExpertStatsRequest.getDefaultInstance())
                    .getTokensList().stream().filter(t -> t.getLayer() == layer).mapToLong(ExpertTokens::getTokens).sum();
        } finally {
            channel.shutdownNow();
        }
    }
}
