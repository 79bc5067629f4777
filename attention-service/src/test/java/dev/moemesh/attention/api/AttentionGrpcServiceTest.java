package dev.moemesh.attention.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.CancelRequest;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.testing.Prometheus;
import dev.moemesh.testing.StreamRecorder;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(TinyModelResource.class)
class AttentionGrpcServiceTest {

    @GrpcClient("attention")
    AttentionServiceGrpc.AttentionServiceBlockingStub client;

    @GrpcClient("attention")
    Channel channel;

    @ConfigProperty(name = "attention.model-dir")
    Path modelDir;

    private static GenerateRequest request(String id, int maxTokens, int... prompt) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true));
        for (int t : prompt) b.addPromptTokenIds(t);
        return b.build();
    }

    private List<GenerateEvent> events(GenerateRequest r) {
        List<GenerateEvent> out = new ArrayList<>();
        client.generate(r).forEachRemaining(out::add);
        return out;
    }

    @Test
    void concurrentGenerationsStreamTheLocalEnginesTokens() throws Exception {
        List<GenerateRequest> requests = List.of(request("a", 9, 3, 17, 42), request("b", 5, 100, 7),
                request("c", 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
        Model model = Model.load(modelDir, 0);
        List<Generation> expected = new BatchingEngine(model, EngineOptions.defaults()).generate(requests.stream()
                .map(r -> new GenerationRequest(r.getRequestId(), r.getPromptTokenIdsList().stream()
                        .mapToInt(Integer::intValue).toArray(),
                        dev.moemesh.core.engine.SamplingParams.greedy(r.getSampling().getMaxTokens())))
                .toList());

        List<CompletableFuture<List<GenerateEvent>>> streams = new ArrayList<>();
        for (GenerateRequest r : requests) streams.add(CompletableFuture.supplyAsync(() -> events(r)));
        for (int i = 0; i < requests.size(); i++) {
            List<GenerateEvent> events = streams.get(i).get(60, TimeUnit.SECONDS);
            int[] want = expected.get(i).tokenIds();
            assertEquals(want.length + 1, events.size(), "one token event per token, then the completion");
            for (int k = 0; k < want.length; k++) {
                assertEquals(want[k], events.get(k).getToken().getTokenId());
                assertEquals(k, events.get(k).getToken().getIndex());
            }
            var done = events.get(want.length).getCompleted();
            assertEquals("length", done.getFinishReason());
            assertArrayEquals(want, done.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
            assertEquals(requests.get(i).getPromptTokenIdsCount(), done.getPromptTokens());
        }
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        StatusRuntimeException empty = assertThrows(StatusRuntimeException.class, () -> events(request("e1", 4)));
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());
        assertTrue(empty.getStatus().getDescription().contains("prompt_token_ids is empty"), empty.getMessage());

        StatusRuntimeException vocab = assertThrows(StatusRuntimeException.class, () -> events(request("e2", 4, 5, 999999)));
        assertEquals(Status.Code.INVALID_ARGUMENT, vocab.getStatus().getCode());
        assertTrue(vocab.getStatus().getDescription().contains("999999 is outside the vocabulary"), vocab.getMessage());

        StatusRuntimeException noId = assertThrows(StatusRuntimeException.class, () -> events(request("", 4, 5)));
        assertTrue(noId.getStatus().getDescription().contains("request_id is empty"), noId.getMessage());

        StatusRuntimeException tooLong = assertThrows(StatusRuntimeException.class, () -> events(request("e3", 900, 5)));
        assertTrue(tooLong.getStatus().getDescription().contains("exceeds the KV cache"), tooLong.getMessage());

        StatusRuntimeException temperature = assertThrows(StatusRuntimeException.class, () -> events(request("e4", 4, 5)
                .toBuilder().setSampling(SamplingParams.newBuilder().setMaxTokens(4).setTemperature(-1)).build()));
        assertTrue(temperature.getStatus().getDescription().contains("sampling.temperature must be"), temperature.getMessage());

        StatusRuntimeException model = assertThrows(StatusRuntimeException.class, () -> events(request("e5", 4, 5)
                .toBuilder().setModelFingerprint("feedface").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, model.getStatus().getCode());
        assertTrue(model.getStatus().getDescription().contains("'" + ModelFingerprint.of(modelDir) + "'"), model.getMessage());
    }

    @Test
    void theRightFingerprintIsAccepted() {
        List<GenerateEvent> events = events(request("f1", 2, 5, 6).toBuilder()
                .setModelFingerprint(ModelFingerprint.of(modelDir)).build());
        assertEquals("length", events.get(events.size() - 1).getCompleted().getFinishReason());
    }

    @Test
    void cancelEndsALiveGenerationWithReasonCancelled() throws Exception {
        StreamRecorder<GenerateEvent> stream = new StreamRecorder<>();
        List<GenerateEvent> received = stream.received();
        CompletableFuture<Void> done = stream.done();
        AttentionServiceGrpc.newStub(channel).generate(request("long", 700, 1, 2, 3), stream);
        while (received.isEmpty() && !done.isDone()) Thread.sleep(5); // it is running
        assertFalse(done.isDone(), "a 700-token generation is still running");
        StatusRuntimeException twice = assertThrows(StatusRuntimeException.class, () -> events(request("long", 3, 1)));
        assertEquals(Status.Code.ALREADY_EXISTS, twice.getStatus().getCode());

        assertTrue(client.cancel(CancelRequest.newBuilder().setRequestId("long").build()).getCancelled());
        done.get(30, TimeUnit.SECONDS);
        GenerateEvent last = received.get(received.size() - 1);
        assertEquals("cancelled", last.getCompleted().getFinishReason());
        assertTrue(last.getCompleted().getTokenIdsCount() < 700);
        assertFalse(client.cancel(CancelRequest.newBuilder().setRequestId("long").build()).getCancelled(),
                "a finished generation is no longer live");
    }

    @Test
    void statsCountTokensAndShowAnEmptyCacheWhenIdle() {
        AttentionStats start = client.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        long before = start.getGeneratedTokens();
        events(request("s1", 6, 8, 9, 10));
        // the counters are published at the end of the step that sent the completion, which may come just after it
        awaitTrue(() -> client.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getGeneratedTokens()
                >= before + 6, "generated tokens counted");
        AttentionStats after = client.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        assertEquals(48, after.getKvBlocksTotal());
        assertEquals(16, after.getKvBlockTokens());
        // speculative decoding is off here: decoding steps are counted (a sequence's first token comes from its
        // prefill, the other 5 from decode steps), nothing is drafted
        assertTrue(after.getDecodeSteps() >= start.getDecodeSteps() + 5, "decode steps " + after.getDecodeSteps());
        assertEquals(0, after.getSpeculativeDrafted());
        assertEquals(0, after.getSpeculativeAccepted());
    }

    @Test
    void prometheusShowsTheQueueTheBatchTokensAndTimeToFirstToken() {
        double firstTokensBefore = metric("moemesh_attention_time_to_first_token_seconds_count");
        double generatedBefore = metric("moemesh_attention_tokens_generated_total");
        events(request("m1", 5, 3, 4, 5));
        assertEquals(firstTokensBefore + 1, metric("moemesh_attention_time_to_first_token_seconds_count"));
        assertTrue(metric("moemesh_attention_request_duration_seconds_count{finish_reason=\"length\"}") >= 1);
        // counted at the end of the step that sent the completion, which may come just after it
        awaitTrue(() -> metric("moemesh_attention_tokens_generated_total") >= generatedBefore + 5, "tokens counted");
        awaitTrue(() -> metric("moemesh_attention_step_sequences_count") >= 5, "a step per token at least");
        // speculative decoding is off here: decode steps are counted, nothing is drafted
        awaitTrue(() -> metric("moemesh_attention_speculative_decode_steps_total") >= 4, "decode steps counted");
        assertEquals(0, metric("moemesh_attention_speculative_drafted_total"));
        assertEquals(0, metric("moemesh_attention_speculative_accepted_total"));
        assertEquals(0, metric("moemesh_attention_sequences_waiting"));
        assertEquals(48, metric("moemesh_attention_kv_blocks_total"));
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "waited 10 s for: " + what);
            Thread.onSpinWait();
        }
    }

    private static double metric(String sample) {
        return Prometheus.sample(RestAssured.port, sample);
    }

    @Test
    void readyWithExpertsInProcess() {
        given().when().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
    }
}
