package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.router.RouterAndAttentionService;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** A client that leaves a stream early, through either door, cancels its generation on the attention service. */
class CancellationTest {
    /** Near the tiny model's context of 256, so a generation not cancelled runs well past the first token. */
    private static final int MAX_TOKENS = 250;

    private static RouterAndAttentionService mesh;
    private static URI base;
    private static String attention;
    private static ManagedChannel inference;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-cancel");
        base = mesh.base();
        attention = mesh.attention.address();
        inference = NettyChannelBuilder.forTarget(mesh.router.address()).usePlaintext().build();
    }

    @AfterAll
    static void stop() {
        if (inference != null) inference.shutdownNow();
        if (mesh != null) mesh.close();
    }

    private ManagedChannel channel;
    private AttentionServiceGrpc.AttentionServiceBlockingStub stats;

    @BeforeEach
    void connect() {
        channel = NettyChannelBuilder.forTarget(attention).usePlaintext().build();
        stats = AttentionServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void leavingAnSseStreamCancelsTheGeneration() throws Exception {
        long before = generatedTokens();
        String body = "{\"model\":\"" + NAME + "\",\"prompt\":[3,1],\"max_tokens\":" + MAX_TOKENS
                + ",\"ignore_eos\":true,\"stream\":true}";
        HttpResponse<InputStream> r = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                HttpRequest.newBuilder(base.resolve("/v1/completions"))
                        .header("Authorization", "Bearer " + RouterAndAttentionService.API_KEY)
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        try (var lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            assertTrue(lines.readLine().startsWith("data: {"));
        }
        assertCancelledSince(before);
    }

    @Test
    void cancellingAGrpcCompleteCancelsTheGeneration() throws Exception {
        long before = generatedTokens();
        Metadata key = new Metadata();
        key.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
                "Bearer " + RouterAndAttentionService.API_KEY);
        InferenceRequest request = InferenceRequest.newBuilder().setModel(NAME).addPromptTokenIds(3)
                .addPromptTokenIds(1).setSampling(SamplingParams.newBuilder().setMaxTokens(MAX_TOKENS)
                        .setIgnoreEos(true)).build();
        // Complete sends nothing until the end: only the cancel handler can tell the mesh the client has gone
        var answer = InferenceServiceGrpc.newFutureStub(inference)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(key)).complete(request);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getRunningSequences() == 0
                && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        answer.cancel(true);
        assertCancelledSince(before);
    }

    private long generatedTokens() {
        return stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getGeneratedTokens();
    }

    private void assertCancelledSince(long generatedBefore) throws InterruptedException {
        AttentionStats after = stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (after.getRunningSequences() + after.getWaitingSequences() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
            after = stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
        }
        assertEquals(0, after.getRunningSequences());
        long generated = after.getGeneratedTokens() - generatedBefore;
        assertTrue(generated < MAX_TOKENS, "the generation ran on after the client left: " + generated + " tokens");
    }
}
