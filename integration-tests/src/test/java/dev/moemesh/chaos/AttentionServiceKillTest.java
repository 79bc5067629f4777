package dev.moemesh.chaos;

import static dev.moemesh.router.LocalEngineReference.MODEL;
import static dev.moemesh.router.LocalEngineReference.NAME;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One of two attention services is killed (SIGKILL) while streams run through both of the router's doors: every
 * stream, SSE and gRPC, still tells each token once, in order, and ends with the single-process engine's greedy
 * tokens. The router runs the generations that the dead service held again on the other one ({@code AttentionCall},
 * {@code GenerationRetry}); the replayed prefix is checked there and not sent twice. Real processes throughout.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class AttentionServiceKillTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String API_KEY = "chaos-key";
    /** Long enough that every generation runs well past the kill, which comes once each stream has its first token. */
    private static final int MAX_TOKENS = 64;
    private static final int STREAMS_PER_DOOR = 4;

    private static LocalMesh mesh;
    private static List<LocalMesh.Service> attention;
    private static LocalMesh.Service router;
    private static ManagedChannel inference;

    @BeforeAll
    static void start() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        attention = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            attention.add(mesh.startAttentionService("kill-attention-" + i, MODEL, List.of(), LocalMesh.freePort(),
                    List.of(), Duration.ofMinutes(3)));
        }
        router = mesh.startRouter("kill-router", MODEL, attention.stream().map(LocalMesh.Service::address).toList(),
                LocalMesh.freePort(), LocalMesh.freePort(), List.of("-Drouter.api-keys=" + API_KEY),
                Duration.ofMinutes(3));
        inference = NettyChannelBuilder.forTarget(router.address()).usePlaintext().build();
    }

    @AfterAll
    static void stop() {
        if (inference != null) inference.shutdownNow();
        if (mesh != null) mesh.close();
    }

    /** What one client heard: its tokens by index (checked contiguous as they come) and how its stream ended. */
    private static final class Stream {
        final int[] prompt;
        final List<Integer> tokens = new ArrayList<>();
        final AtomicInteger heard = new AtomicInteger();
        String ending;

        Stream(int[] prompt) {
            this.prompt = prompt;
        }

        void token(int index, int id) {
            assertEquals(tokens.size(), index, "token indices of prompt " + Arrays.toString(prompt) + " in order, once");
            tokens.add(id);
            heard.incrementAndGet();
        }
    }

    @Test
    void killingOneOfTwoAttentionServicesCostsNoStreamOfEitherDoor() throws Exception {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 2 * STREAMS_PER_DOOR; i++) streams.add(new Stream(new int[] {3 + i, 11, 7 + 2 * i, 1}));
        ExecutorService clients = Executors.newFixedThreadPool(streams.size());
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < streams.size(); i++) {
                Stream s = streams.get(i);
                done.add(clients.submit(i < STREAMS_PER_DOOR ? () -> sse(s) : () -> grpc(s)));
            }
            // every stream has tokens out (so a run again must replay them invisibly); kill the busier service
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (streams.stream().anyMatch(s -> s.heard.get() == 0) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(streams.stream().allMatch(s -> s.heard.get() > 0), "every stream started");
            int[] running = attention.stream().mapToInt(AttentionServiceKillTest::running).toArray();
            LocalMesh.Service victim = attention.get(running[0] >= running[1] ? 0 : 1);
            victim.kill();
            assertTrue(Math.max(running[0], running[1]) > 0, "the killed service was generating");
            for (Future<?> f : done) f.get(3, TimeUnit.MINUTES);
            for (Stream s : streams) {
                assertEquals("length", s.ending, "prompt " + Arrays.toString(s.prompt));
                assertEquals(toList(greedyTokens(s.prompt, MAX_TOKENS)), s.tokens,
                        "prompt " + Arrays.toString(s.prompt) + ": the single-process engine's tokens, each once");
            }
            String log = Files.readString(router.log());
            assertTrue(log.contains("after attention service " + victim.address()),
                    "the router ran generations of the killed " + victim.address() + " again");
        } finally {
            clients.shutdownNow();
        }
    }

    private static int running(LocalMesh.Service s) {
        ManagedChannel c = NettyChannelBuilder.forTarget(s.address()).usePlaintext().build();
        try {
            return AttentionServiceGrpc.newBlockingStub(c).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getRunningSequences();
        } finally {
            c.shutdownNow();
        }
    }

    /** A streamed completion on the REST door: each chunk's token ids, then the finish reason. */
    private static Void sse(Stream s) throws Exception {
        String body = "{\"model\":\"" + NAME + "\",\"prompt\":" + Arrays.toString(s.prompt) + ",\"max_tokens\":"
                + MAX_TOKENS + ",\"ignore_eos\":true,\"temperature\":0,\"stream\":true}";
        HttpResponse<InputStream> r = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + router.httpPort() + "/v1/completions"))
                        .header("Authorization", "Bearer " + API_KEY)
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        try (var lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (line.isEmpty() || line.equals("data: [DONE]")) continue;
                JsonNode chunk = JSON.readTree(line.substring("data: ".length()));
                if (chunk.has("error")) {
                    s.ending = "error " + chunk.get("error");
                    continue;
                }
                JsonNode choice = chunk.get("choices").get(0);
                for (JsonNode t : choice.get("token_ids")) s.token(s.tokens.size(), t.asInt());
                if (!choice.get("finish_reason").isNull()) s.ending = choice.get("finish_reason").asText();
            }
        }
        return null;
    }

    /** A streamed generation on the gRPC door: each token event with its index, then the answer. */
    private static Void grpc(Stream s) {
        Metadata key = new Metadata();
        key.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + API_KEY);
        InferenceRequest.Builder request = InferenceRequest.newBuilder().setModel(NAME).setSampling(SamplingParams
                .newBuilder().setMaxTokens(MAX_TOKENS).setIgnoreEos(true));
        for (int t : s.prompt) request.addPromptTokenIds(t);
        for (Iterator<InferenceEvent> it = InferenceServiceGrpc.newBlockingStub(inference)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(key)).generate(request.build());
             it.hasNext(); ) {
            InferenceEvent e = it.next();
            if (e.hasToken()) {
                s.token(e.getToken().getIndex(), e.getToken().getTokenId());
            } else {
                s.ending = e.getCompleted().getFinishReason();
                assertEquals(s.tokens, e.getCompleted().getTokenIdsList(), "the answer repeats the streamed tokens");
            }
        }
        return null;
    }

    private static List<Integer> toList(int[] ids) {
        return Arrays.stream(ids).boxed().toList();
    }
}
