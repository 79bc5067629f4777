package dev.moemesh.router.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.router.AttentionServiceProcess;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.eclipse.microprofile.config.inject.ConfigProperty;
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

/** A client that leaves a stream early cancels its generation on the attention service. */
@QuarkusTest
@QuarkusTestResource(value = AttentionServiceProcess.class, restrictToAnnotatedClass = true)
class StreamCancellationTest {
    private static final int MAX_TOKENS = 250;

    @TestHTTPResource("/")
    URI base;

    @ConfigProperty(name = "router.attention-services")
    String attention;

    @Test
    void leavingAStreamCancelsTheGeneration() throws Exception {
        ManagedChannel channel = NettyChannelBuilder.forTarget(attention).usePlaintext().build();
        try {
            var stats = AttentionServiceGrpc.newBlockingStub(channel);
            long before = stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getGeneratedTokens();
            String body = "{\"model\":\"" + TestModels.tiny(Preset.TINY_V3).getFileName() + "\",\"prompt\":[3,1],"
                    + "\"max_tokens\":" + MAX_TOKENS + ",\"ignore_eos\":true,\"stream\":true}";
            HttpResponse<InputStream> r = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                    HttpRequest.newBuilder(base.resolve("/v1/completions"))
                            .header("Authorization", "Bearer " + AttentionServiceProcess.API_KEY)
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            try (var lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                assertTrue(lines.readLine().startsWith("data: {"));
            }
            AttentionStats after = stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (after.getRunningSequences() + after.getWaitingSequences() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
                after = stats.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
            }
            assertEquals(0, after.getRunningSequences());
            long generated = after.getGeneratedTokens() - before;
            assertTrue(generated < MAX_TOKENS, "the generation ran on after the client left: " + generated + " tokens");
        } finally {
            channel.shutdownNow();
        }
    }
}
