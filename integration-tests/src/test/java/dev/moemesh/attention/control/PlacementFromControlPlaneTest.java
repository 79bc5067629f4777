package dev.moemesh.attention.control;

import static dev.moemesh.attention.control.PlacementMeshResource.MODEL;
import static dev.moemesh.attention.control.PlacementMeshResource.attention;
import static dev.moemesh.attention.control.PlacementMeshResource.controlPlane;
import static dev.moemesh.attention.control.PlacementMeshResource.expertsA;
import static dev.moemesh.attention.control.PlacementMeshResource.expertsB;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertServiceState;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.GetExpertStatsRequest;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import dev.moemesh.testing.Prometheus;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.restassured.RestAssured;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The attention service with {@code attention.control-plane} and no expert services configured: it registers, is
 * not ready until a placement comes, and then runs its routed experts on the real expert-service processes each
 * published placement names, switching while it serves; its greedy tokens stay the single-process engine's, as any
 * replica computes the same bf16 rows.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PlacementFromControlPlaneTest {
    private static final String FINGERPRINT = ModelFingerprint.of(MODEL);
    private static final int MOE_LAYERS_FROM = 1;
    private static final int LAYERS = 3;
    private static final int EXPERTS = 16;
    private static long version = 1_700_000_000_000L; // as the orchestrator's: milliseconds, only increasing

    private static ManagedChannel channel;
    private static AttentionServiceGrpc.AttentionServiceBlockingStub client;

    @BeforeAll
    static void startTheMesh() {
        PlacementMeshResource.start();
        channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
        client = AttentionServiceGrpc.newBlockingStub(channel);
        RestAssured.port = attention.httpPort();
    }

    @AfterAll
    static void stopTheMesh() {
        if (channel != null) channel.shutdownNow();
        PlacementMeshResource.stop();
    }

    /** Every routed expert on the service that holds its id's slice: {@code services[e * n / EXPERTS]}. */
    private static Placement placement(String fingerprint, LocalMesh.Service... services) {
        Placement.Builder p = Placement.newBuilder().setVersion(++version).setModelFingerprint(fingerprint);
        for (int layer = MOE_LAYERS_FROM; layer < LAYERS; layer++) {
            for (int e = 0; e < EXPERTS; e++) {
                ExpertReplicas.Builder r = p.addExpertsBuilder().setLayer(layer).setExpert(e);
                r.addReplicasBuilder().setAddress(services[e * services.length / EXPERTS].address()).setWeight(1);
            }
        }
        return p.build();
    }

    private long placementInUse() {
        return client.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getPlacementVersion();
    }

    private void publishAndAwait(Placement p) throws InterruptedException {
        controlPlane.publish(p);
        await(() -> placementInUse() == p.getVersion(), "placement version " + p.getVersion() + " in use");
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > giveUp) throw new AssertionError("not within 20 s: " + what);
            Thread.sleep(20);
        }
    }

    /** Token rows the expert service has computed since it started. */
    private static long rowsComputed(LocalMesh.Service service) {
        ManagedChannel c = NettyChannelBuilder.forTarget(service.address()).usePlaintext().build();
        try {
            return ExpertServiceGrpc.newBlockingStub(c).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getExpertStats(GetExpertStatsRequest.getDefaultInstance()).getTokensList().stream()
                    .mapToLong(ExpertTokens::getTokens).sum();
        } finally {
            c.shutdownNow();
        }
    }

    private static GenerateRequest request(String id, int maxTokens, int... prompt) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id).setSampling(
                dev.moemesh.proto.SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true));
        for (int t : prompt) b.addPromptTokenIds(t);
        return b.build();
    }

    /** The single-process engine's greedy tokens for these requests. */
    private static List<int[]> localEngineTokens(List<GenerateRequest> requests) {
        List<Generation> generations = new BatchingEngine(Model.load(MODEL, 0), EngineOptions.defaults()).generate(
                requests.stream().map(r -> new GenerationRequest(r.getRequestId(), r.getPromptTokenIdsList().stream()
                        .mapToInt(Integer::intValue).toArray(), SamplingParams.greedy(r.getSampling().getMaxTokens())))
                        .toList());
        return generations.stream().map(Generation::tokenIds).toList();
    }

    private Completion completion(GenerateRequest r) {
        List<GenerateEvent> events = new ArrayList<>();
        client.generate(r).forEachRemaining(events::add);
        return events.getLast().getCompleted();
    }

    private void assertTokensAreTheLocalEngines(List<GenerateRequest> requests) throws Exception {
        List<CompletableFuture<Completion>> running = new ArrayList<>();
        for (GenerateRequest r : requests) running.add(CompletableFuture.supplyAsync(() -> completion(r)));
        List<int[]> expected = localEngineTokens(requests);
        for (int i = 0; i < requests.size(); i++) {
            Completion done = running.get(i).get(60, TimeUnit.SECONDS);
            assertEquals("length", done.getFinishReason(), done.getErrorMessage());
            assertArrayEquals(expected.get(i), done.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray(),
                    requests.get(i).getRequestId());
        }
    }

    private static List<GenerateRequest> requests(String prefix) {
        return List.of(request(prefix + "-a", 9, 3, 17, 42), request(prefix + "-b", 5, 100, 7),
                request(prefix + "-c", 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    }

    @Test
    @Order(1)
    void beforeAnyPlacementItRegistersIsNotReadyAndFailsAGenerationNamingAnUnplacedExpert() throws Exception {
        await(() -> !controlPlane.registrations().isEmpty(), "registered with the control plane");
        RegisterRequest registered = controlPlane.registrations().getFirst();
        assertEquals(Role.ROLE_ATTENTION, registered.getRole());
        assertEquals(PlacementMeshResource.INSTANCE_ID, registered.getInstanceId());
        assertEquals(FINGERPRINT, registered.getModelFingerprint());

        String health = given().when().get("/q/health/ready").then().statusCode(503).extract().asString();
        assertTrue(health.contains("no placement from the control plane at " + controlPlane.address() + " yet"),
                health);

        Completion failed = completion(request("unplaced", 4, 5, 6));
        assertEquals("error", failed.getFinishReason());
        assertTrue(failed.getErrorMessage().matches("layer 1 expert \\d+ is held by no expert service \\(nothing is"
                + " placed yet\\)"), failed.getErrorMessage());
        assertEquals(0, placementInUse());
    }

    @Test
    @Order(2)
    void greedyTokensStayTheLocalEnginesAcrossPlacementSwitches() throws Exception {
        publishAndAwait(placement(FINGERPRINT, expertsA));
        given().when().get("/q/health/ready").then().statusCode(200);
        long aBefore = rowsComputed(expertsA);
        assertTokensAreTheLocalEngines(requests("on-a"));
        assertTrue(rowsComputed(expertsA) > aBefore, "A computed the experts");

        publishAndAwait(placement(FINGERPRINT, expertsA, expertsB));
        long bBefore = rowsComputed(expertsB);
        assertTokensAreTheLocalEngines(requests("split"));
        assertTrue(rowsComputed(expertsB) > bBefore, "B computed experts 8-15");

        publishAndAwait(placement(FINGERPRINT, expertsB));
        long aAfter = rowsComputed(expertsA);
        assertTokensAreTheLocalEngines(requests("on-b"));
        assertEquals(aAfter, rowsComputed(expertsA), "A is in no placement any more");
        assertEquals(List.of(expertsB.address()), client.getAttentionStats(GetAttentionStatsRequest
                .getDefaultInstance()).getExpertServicesList().stream().map(ExpertServiceState::getAddress).toList());
    }

    @Test
    @Order(3)
    void aSwitchDuringAGenerationLeavesItsTokensTheLocalEngines() throws Exception {
        publishAndAwait(placement(FINGERPRINT, expertsA));
        GenerateRequest longOne = request("long", 200, 9, 8, 7);
        CountDownLatch firstToken = new CountDownLatch(1);
        CompletableFuture<Completion> done = new CompletableFuture<>();
        AttentionServiceGrpc.newStub(channel).generate(longOne, new StreamObserver<>() {
            @Override
            public void onNext(GenerateEvent e) {
                if (e.hasToken()) firstToken.countDown();
                if (e.hasCompleted()) done.complete(e.getCompleted());
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {}
        });
        assertTrue(firstToken.await(30, TimeUnit.SECONDS), "the generation started");
        long bBefore = rowsComputed(expertsB);
        controlPlane.publish(placement(FINGERPRINT, expertsB));

        Completion completion = done.get(60, TimeUnit.SECONDS);
        assertEquals("length", completion.getFinishReason(), completion.getErrorMessage());
        assertArrayEquals(localEngineTokens(List.of(longOne)).getFirst(),
                completion.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertTrue(rowsComputed(expertsB) > bBefore, "the generation's later steps ran on B");
    }

    @Test
    @Order(4)
    void aPlacementForAnotherModelIsIgnored() throws Exception {
        // newer than the placement in use but older than the other model's: it is taken only if that one was not
        Placement next = placement(FINGERPRINT, expertsA, expertsB);
        version += 10;
        controlPlane.publish(placement("feedfacefeedface", expertsA));
        publishAndAwait(next);
        given().when().get("/q/health/ready").then().statusCode(200);
    }

    @Test
    @Order(5)
    void eachExpertCallIsMeteredWithItsOverheadSplitIntoSendQueueAndTransport() {
        AttentionStats stats = client.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        assertTrue(stats.getExpertCalls() > 0, "the generations above called the expert services");
        assertTrue(stats.getExpertTransportP50Nanos() > 0, "loopback gRPC takes some time: " + stats);
        assertTrue(stats.getExpertOverheadP50Nanos() <= stats.getExpertRoundTripP50Nanos(), stats.toString());
        String timer = "moemesh_attention_expert_call_seconds";
        assertEquals(stats.getExpertCalls(), (long) metric(timer + "_count{part=\"round_trip\"}"),
                "Prometheus counts the calls GetAttentionStats counts");
        double overhead = metric(timer + "_sum{part=\"overhead\"}");
        double parts = metric(timer + "_sum{part=\"send\"}") + metric(timer + "_sum{part=\"queue\"}")
                + metric(timer + "_sum{part=\"transport\"}");
        assertEquals(overhead, parts, 1e-6, "per call, send + queue + transport = overhead");
        assertTrue(metric(timer + "_sum{part=\"round_trip\"}") >= overhead);
    }

    private static double metric(String sample) {
        return Prometheus.sample(attention.httpPort(), sample);
    }
}
