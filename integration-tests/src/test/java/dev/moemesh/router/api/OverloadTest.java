package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.router.RouterAndAttentionService;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Past saturation the doors refuse rather than queue without end: an attention service that holds one generation and
 * queues none refuses the others {@code RESOURCE_EXHAUSTED}; the REST door answers them 429 with {@code Retry-After},
 * also for streams (nothing was written yet), and the gRPC door passes the status on. What it admitted completes.
 */
class OverloadTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int AT_ONCE = 6;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static RouterAndAttentionService mesh;
    private static URI base;
    private static ManagedChannel channel;
    private static InferenceServiceGrpc.InferenceServiceBlockingStub anonymous;

    /** An attention service that holds one generation and queues none; the router says to come back in 2 s. */
    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-overload",
                List.of("-Dattention.max-sequences=1", "-Dattention.max-queued-requests=0"),
                List.of("-Drouter.retry-after=2s"));
        base = mesh.base();
        channel = NettyChannelBuilder.forTarget(mesh.router.address()).usePlaintext().build();
        anonymous = InferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (mesh != null) mesh.close();
    }

    private HttpRequest completion(boolean stream) {
        String body = "{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],\"max_tokens\":200,\"temperature\":0,"
                + "\"ignore_eos\":true,\"stream\":" + stream + "}";
        return HttpRequest.newBuilder(base.resolve("/v1/completions")).header("content-type", "application/json")
                .header("authorization", "Bearer " + RouterAndAttentionService.API_KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    @Test
    void pastTheAttentionServicesQueueTheRestDoorAnswers429WithRetryAfterAndServesWhatItAdmitted() throws Exception {
        for (boolean stream : new boolean[] {false, true}) {
            List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
            for (int i = 0; i < AT_ONCE; i++) sent.add(http.sendAsync(completion(stream), HttpResponse.BodyHandlers.ofString()));
            int ok = 0;
            int refused = 0;
            for (var f : sent) {
                HttpResponse<String> r = f.get(2, TimeUnit.MINUTES);
                if (r.statusCode() == 200) {
                    ok++;
                    assertTrue(stream ? r.body().endsWith("data: [DONE]\n\n") : r.body().contains("\"finish_reason\":\"length\""),
                            r.body());
                    continue;
                }
                assertEquals(429, r.statusCode(), "the only refusal is 429: " + r.body());
                refused++;
                assertEquals("2", r.headers().firstValue("retry-after").orElse(null), "429 says when to come back");
                JsonNode error = JSON.readTree(r.body()).get("error");
                assertEquals("mesh_overloaded", error.get("code").asText());
                assertTrue(error.get("message").asText().contains("attention.max-queued-requests"), error.toString());
            }
            assertTrue(ok >= 1, "the first is served (stream " + stream + ")");
            assertTrue(refused >= 1, AT_ONCE + " at once on one place: some are refused (stream " + stream + ")");
            assertEquals(AT_ONCE, ok + refused);
        }
    }

    @Test
    void pastTheAttentionServicesQueueTheGrpcDoorAnswersResourceExhausted() throws Exception {
        Metadata key = new Metadata();
        key.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + RouterAndAttentionService.API_KEY);
        var stub = anonymous.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(key));
        InferenceRequest request = InferenceRequest.newBuilder().setModel(NAME).addAllPromptTokenIds(List.of(4, 2, 7, 1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(200).setIgnoreEos(true)).build();
        List<CompletableFuture<Status.Code>> calls = new ArrayList<>();
        ExecutorService clients = Executors.newFixedThreadPool(AT_ONCE);
        for (int i = 0; i < AT_ONCE; i++) {
            calls.add(CompletableFuture.supplyAsync(() -> {
                try {
                    Iterator<InferenceEvent> events = stub.withDeadlineAfter(2, TimeUnit.MINUTES).generate(request);
                    InferenceEvent last = null;
                    while (events.hasNext()) last = events.next();
                    return last != null && last.hasCompleted() ? Status.Code.OK : Status.Code.UNKNOWN;
                } catch (StatusRuntimeException e) {
                    assertTrue(e.getStatus().getDescription().contains("attention.max-queued-requests"),
                            e.getStatus().toString());
                    return e.getStatus().getCode();
                }
            }, clients));
        }
        List<Status.Code> codes = new ArrayList<>();
        for (var c : calls) codes.add(c.get(2, TimeUnit.MINUTES));
        clients.shutdown();
        assertTrue(codes.contains(Status.Code.OK), codes.toString());
        assertTrue(codes.contains(Status.Code.RESOURCE_EXHAUSTED), codes.toString());
        assertTrue(codes.stream().allMatch(c -> c == Status.Code.OK || c == Status.Code.RESOURCE_EXHAUSTED), codes.toString());
    }
}
