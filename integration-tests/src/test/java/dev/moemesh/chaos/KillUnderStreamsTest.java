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
 * One process of a mesh killed (SIGKILL) while streams run through both of the router's doors, SSE and gRPC: every
 * stream still tells each token once, in order, and ends with the single-process engine's greedy tokens. Real
 * processes throughout; each test starts its own mesh.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KillUnderStreamsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String API_KEY = "chaos-key";
    /** Long enough that every generation runs well past the kill, which comes once each stream has its first token. */
    private static final int MAX_TOKENS = 32;
    private static final int STREAMS_PER_DOOR = 4;
    private static final Duration READY = Duration.ofMinutes(3);
    private static final List<String> JVM = List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");

    /**
     * The router runs the generations that the dead attention service held again on the other one
     * ({@code AttentionCall}, {@code GenerationRetry}); the replayed prefix is checked there and not sent twice.
     */
    @Test
    void killingOneOfTwoAttentionServicesCostsNoStreamOfEitherDoor() throws Exception {
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), logs(), JVM)) {
            List<LocalMesh.Service> attention = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                attention.add(mesh.startAttentionService("kill-attention-" + i, MODEL, List.of(), LocalMesh.freePort(),
                        List.of(), READY));
            }
            LocalMesh.Service router = router(mesh, "kill-router", attention);
            try (Streams streams = Streams.start(router)) {
                streams.awaitTokensFromEach();
                int[] running = attention.stream().mapToInt(KillUnderStreamsTest::running).toArray();
                LocalMesh.Service victim = attention.get(running[0] >= running[1] ? 0 : 1);
                victim.kill();
                assertTrue(Math.max(running[0], running[1]) > 0, "the killed service was generating");
                streams.assertEachCompletesWithTheReferenceTokens();
            }
            String log = Files.readString(router.log());
            assertTrue(log.contains("run 2 after attention service "),
                    "the router ran generations of the killed attention service again");
        }
    }

    /**
     * The worst case of an expert service's death: one replica of each expert (min-replicas 1), so the generations
     * that need the dead service's experts fail on the attention service until a placement serves them again. The
     * attention service reports the broken service at once, the control plane re-places its experts on the survivor
     * (its heartbeat deadline is 30 s: only the report explains seconds), and the router runs the failed generations
     * again meanwhile. The attention service's healing is turned off here ({@code attention.expert-heal-timeout=0}),
     * so that the doors' runs again are what is tested; {@code ExpertHealTest} covers the heal.
     */
    @Test
    void killingTheOnlyReplicaOfHalfTheExpertsCostsNoStreamOfEitherDoor() throws Exception {
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), logs(), JVM)) {
            SingleReplicaMesh halves = SingleReplicaMesh.start(mesh, "kill", List.of("-Dattention.expert-heal-timeout=0"));
            LocalMesh.Service attention = halves.attention();
            LocalMesh.Service router = router(mesh, "kill-experts-router", List.of(attention));
            try (Streams streams = Streams.start(router)) {
                streams.awaitTokensFromEach();
                halves.high().kill();
                streams.assertEachCompletesWithTheReferenceTokens();
            }
            assertTrue(Files.readString(halves.orchestrator().log()).contains("taken for dead: '"),
                    "the control plane acted on the attention service's report");
            assertTrue(Files.readString(router.log()).contains("run 2 after attention service "),
                    "generations that needed the dead service's experts failed, and the router ran them again");
            assertTrue(halves.low().process().isAlive());
        }
    }

    private static java.nio.file.Path logs() {
        return LocalMesh.home().resolve("integration-tests/target/mesh-test-logs");
    }

    private static LocalMesh.Service router(LocalMesh mesh, String name, List<LocalMesh.Service> attention) {
        return mesh.startRouter(name, MODEL, attention.stream().map(LocalMesh.Service::address).toList(),
                LocalMesh.freePort(), LocalMesh.freePort(), List.of("-Drouter.api-keys=" + API_KEY), READY);
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

    /** The streams of one test: half SSE, half gRPC, each on its own prompt and client thread. */
    private static final class Streams implements AutoCloseable {
        final LocalMesh.Service router;
        final ManagedChannel inference;
        final ExecutorService clients;
        final List<Stream> streams = new ArrayList<>();
        final List<Future<?>> done = new ArrayList<>();

        private Streams(LocalMesh.Service router) {
            this.router = router;
            this.inference = NettyChannelBuilder.forTarget(router.address()).usePlaintext().build();
            this.clients = Executors.newFixedThreadPool(2 * STREAMS_PER_DOOR);
        }

        static Streams start(LocalMesh.Service router) {
            Streams s = new Streams(router);
            for (int i = 0; i < 2 * STREAMS_PER_DOOR; i++) {
                Stream stream = new Stream(new int[] {3 + i, 11, 7 + 2 * i, 1});
                s.streams.add(stream);
                s.done.add(s.clients.submit(i < STREAMS_PER_DOOR ? () -> s.sse(stream) : () -> s.grpc(stream)));
            }
            return s;
        }

        /** Waits until every stream has tokens out, so a run again must replay them invisibly. */
        void awaitTokensFromEach() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (streams.stream().anyMatch(s -> s.heard.get() == 0) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(streams.stream().allMatch(s -> s.heard.get() > 0), "every stream started");
        }

        void assertEachCompletesWithTheReferenceTokens() throws Exception {
            for (Future<?> f : done) f.get(3, TimeUnit.MINUTES);
            for (Stream s : streams) {
                assertEquals("length", s.ending, "prompt " + Arrays.toString(s.prompt));
                assertEquals(Arrays.stream(greedyTokens(s.prompt, MAX_TOKENS)).boxed().toList(), s.tokens,
                        "prompt " + Arrays.toString(s.prompt) + ": the single-process engine's tokens, each once");
            }
        }

        /** A streamed completion on the REST door: each chunk's token ids, then the finish reason. */
        private Void sse(Stream s) throws Exception {
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
        private Void grpc(Stream s) {
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

        @Override
        public void close() {
            clients.shutdownNow();
            inference.shutdownNow();
        }
    }

    /** What one client heard: its tokens by index (checked contiguous as they come) and how its stream ended. */
    private static final class Stream {
        final int[] prompt;
        final List<Integer> tokens = new ArrayList<>();
        final AtomicInteger heard = new AtomicInteger();
        volatile String ending;

        Stream(int[] prompt) {
            this.prompt = prompt;
        }

        void token(int index, int id) {
            assertEquals(tokens.size(), index, "token indices of prompt " + Arrays.toString(prompt) + " in order, once");
            tokens.add(id);
            heard.incrementAndGet();
        }
    }
}
