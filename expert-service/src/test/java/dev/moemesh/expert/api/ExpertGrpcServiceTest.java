package dev.moemesh.expert.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.moe.Bf16Rows;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertStats;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GetExpertStatsRequest;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.testing.StreamRecorder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.SplittableRandom;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(TinyCheckpointResource.class)
class ExpertGrpcServiceTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int HIDDEN = 64;

    @GrpcClient("experts")
    ExpertServiceGrpc.ExpertServiceBlockingStub client;

    @GrpcClient("experts")
    io.grpc.Channel channel;

    @ConfigProperty(name = "expert.model-dir")
    Path modelDir;

    private RunExpertsRequest.Builder request(int layer, int[] experts, int[] sizes, float[] rows) {
        RunExpertsRequest.Builder b = RunExpertsRequest.newBuilder().setModelFingerprint(ModelFingerprint.of(modelDir))
                .setLayer(layer).setHidden(HIDDEN).setHiddenStates(ByteString.copyFrom(Bf16Rows.pack(rows, 0, rows.length)));
        for (int e : experts) b.addExpertIds(e);
        for (int s : sizes) b.addGroupSizes(s);
        return b;
    }

    /** bf16-exact random rows, as an attention service would send them. */
    private static float[] rows(int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[count * HIDDEN];
        for (int i = 0; i < x.length; i++) x[i] = Bf16.round((float) random.nextGaussian());
        return x;
    }

    private static StatusRuntimeException refusal(RunExpertsRequest.Builder r, ExpertServiceGrpc.ExpertServiceBlockingStub client) {
        return assertThrows(StatusRuntimeException.class, () -> client.runExperts(r.build()));
    }

    @Test
    void outputsEqualLocalExpertsBitForBit() {
        int layer = 2;
        int[] experts = {0, 3, 9, 15};
        int[] sizes = {2, 5, 1, 3};
        float[] x = rows(11, 5);

        RunExpertsResponse response = client.runExperts(request(layer, experts, sizes, x).setSequence(42).build())
                ;

        float[] expected = new float[x.length];
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(modelDir)) {
            LocalExperts local = LocalExperts.loadAll(new WeightReader(ckpt), ModelConfig.load(modelDir));
            int[] start = {0, 2, 7, 8, 11};
            local.run(new RoutedBatch(layer, HIDDEN, experts, start, new int[11], x, expected));
        }
        assertEquals(42, response.getSequence());
        assertArrayEquals(Bf16Rows.pack(expected, 0, expected.length), response.getOutputs().toByteArray());
    }

    @Test
    void expertNotHeldIsNotFoundNamingLayerAndExpert() {
        StatusRuntimeException e = refusal(request(1, new int[] {2, 12}, new int[] {1, 1}, rows(2, 1)), client);
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("layer 1 expert 12 is not held"), e.getMessage());
    }

    @Test
    void expertOutsideTheModelIsInvalidArgument() {
        StatusRuntimeException past = refusal(request(2, new int[] {16}, new int[] {1}, rows(1, 1)), client);
        assertEquals(Status.Code.INVALID_ARGUMENT, past.getStatus().getCode());
        assertTrue(past.getStatus().getDescription().contains("layer 2 expert 16 is not a routed expert"), past.getMessage());
        StatusRuntimeException dense = refusal(request(0, new int[] {1}, new int[] {1}, rows(1, 1)), client);
        assertEquals(Status.Code.INVALID_ARGUMENT, dense.getStatus().getCode());
        assertTrue(dense.getStatus().getDescription().contains("layer 0 is not a MoE layer"), dense.getMessage());
        // with no groups at all the layer is still checked (the fuzzer's first finding: an index out of bounds)
        StatusRuntimeException none = refusal(request(7, new int[0], new int[0], rows(0, 1)), client);
        assertEquals(Status.Code.INVALID_ARGUMENT, none.getStatus().getCode());
        assertTrue(none.getStatus().getDescription().contains("layer 7 is not a MoE layer"), none.getMessage());
    }

    @Test
    void malformedPayloadsAreRefusedSayingWhich() {
        StatusRuntimeException bytes = refusal(request(2, new int[] {1, 2}, new int[] {2, 2}, rows(3, 1)), client);
        assertEquals(Status.Code.INVALID_ARGUMENT, bytes.getStatus().getCode());
        assertTrue(bytes.getStatus().getDescription().contains("hidden_states has 384 bytes but sum(group_sizes) = 4"),
                bytes.getMessage());

        StatusRuntimeException pairs = refusal(request(2, new int[] {1, 2}, new int[] {2}, rows(2, 1)), client);
        assertEquals(Status.Code.INVALID_ARGUMENT, pairs.getStatus().getCode());
        assertTrue(pairs.getStatus().getDescription().contains("expert_ids has 2 entries but group_sizes has 1"),
                pairs.getMessage());

        StatusRuntimeException hidden = refusal(request(2, new int[] {1}, new int[] {1}, rows(1, 1)).setHidden(32), client);
        assertTrue(hidden.getStatus().getDescription().contains("hidden = 32 but the model's hidden_size is 64"),
                hidden.getMessage());
    }

    @Test
    void otherModelIsFailedPreconditionNamingBothFingerprints() {
        StatusRuntimeException e = refusal(
                request(2, new int[] {1}, new int[] {1}, rows(1, 1)).setModelFingerprint("0123456789abcdef"), client);
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("'0123456789abcdef'"), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("'" + ModelFingerprint.of(modelDir) + "'"), e.getMessage());
    }

    @Test
    void countersCountTokenRowsPerExpert() {
        long before5 = tokens(stats(), 2, 5);
        long before6 = tokens(stats(), 2, 6);
        long requestsBefore = stats().getTotalRequests();
        client.runExperts(request(2, new int[] {5, 6}, new int[] {3, 1}, rows(4, 2)).build());
        client.runExperts(request(2, new int[] {5}, new int[] {2}, rows(2, 3)).build());

        ExpertStats after = stats();
        assertEquals(before5 + 5, tokens(after, 2, 5));
        assertEquals(before6 + 1, tokens(after, 2, 6));
        assertTrue(after.getTotalRequests() >= requestsBefore + 2);
        assertEquals(0, tokens(after, 1, 4)); // held, listed, never asked for by this test class
    }

    @Test
    void streamAnswersEachRequestWithItsSequenceAndKeepsGoingAfterARefusal() throws Exception {
        List<RunExpertsRequest> requests = List.of(
                request(2, new int[] {1}, new int[] {2}, rows(2, 7)).setSequence(7).build(),
                request(1, new int[] {12}, new int[] {1}, rows(1, 8)).setSequence(8).build(),
                request(1, new int[] {0, 7}, new int[] {1, 1}, rows(2, 9)).setSequence(9).build());

        StreamRecorder<RunExpertsResponse> stream = new StreamRecorder<>();
        List<RunExpertsResponse> received = stream.received();
        CompletableFuture<Void> done = stream.done();
        StreamObserver<RunExpertsRequest> out = ExpertServiceGrpc.newStub(channel).runExpertsStream(stream);
        long sent = System.nanoTime();
        requests.forEach(out::onNext);
        out.onCompleted();
        done.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        long elapsed = System.nanoTime() - sent;
        List<RunExpertsResponse> responses = List.copyOf(received);

        assertEquals(List.of(7L, 8L, 9L), responses.stream().map(RunExpertsResponse::getSequence).toList());
        // each answer says how long it waited for the stream's thread and then computed: within what this side saw
        for (RunExpertsResponse r : responses) {
            assertTrue(r.getQueueNanos() > 0, "queue_nanos set on sequence " + r.getSequence());
            assertTrue(r.getQueueNanos() + r.getComputeNanos() < elapsed,
                    "queue " + r.getQueueNanos() + " + compute " + r.getComputeNanos() + " ns within " + elapsed);
        }
        for (int i : new int[] {0, 2}) {
            RunExpertsResponse unary = client.runExperts(requests.get(i));
            assertEquals(unary.getOutputs(), responses.get(i).getOutputs());
            assertTrue(!responses.get(i).hasError());
        }
        assertEquals(Status.Code.NOT_FOUND.value(), responses.get(1).getError().getCode());
        assertTrue(responses.get(1).getError().getMessage().contains("layer 1 expert 12"));
    }

    @Test
    void loadAndUnloadChangeWhatIsServed() {
        LayerExpert extra = LayerExpert.newBuilder().setLayer(1).setExpert(15).build();
        client.loadExperts(LoadExpertsRequest.newBuilder().addExperts(extra).build());
        RunExpertsRequest r = request(1, new int[] {15}, new int[] {1}, rows(1, 4)).build();
        assertEquals(HIDDEN * 2, client.runExperts(r).getOutputs().size());

        client.unloadExperts(UnloadExpertsRequest.newBuilder().addExperts(extra).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> client.runExperts(r));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    @Test
    void describeNamesModelBackendAndHeldExperts() {
        DescribeResponse d = client.describe(DescribeRequest.getDefaultInstance());
        assertEquals(ModelFingerprint.of(modelDir), d.getModelFingerprint());
        assertEquals("cpu", d.getBackend());
        assertEquals(8 + 16, d.getHeldCount());
        assertEquals(HIDDEN, d.getHidden());
    }

    @Test
    void readyOnceExpertsAreLoaded() {
        given().when().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
    }

    private ExpertStats stats() {
        return client.getExpertStats(GetExpertStatsRequest.getDefaultInstance());
    }

    private static long tokens(ExpertStats stats, int layer, int expert) {
        return stats.getTokensList().stream().filter(t -> t.getLayer() == layer && t.getExpert() == expert)
                .mapToLong(ExpertTokens::getTokens).findFirst().orElseThrow();
    }
}
