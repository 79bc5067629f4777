package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.rpc.RetryInfo;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.router.RouterAndAttentionService;
import dev.moemesh.testing.Prometheus;
import dev.moemesh.wire.ApiKeyHashes;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Each API key's quota at both doors, router and attention service as processes: a key past its rate is told when to
 * come back (429 + {@code Retry-After}, {@code RESOURCE_EXHAUSTED} + {@code RetryInfo}) and is served then; a key
 * holding its one place is refused a second until the first ends or is cancelled; a request over its key's
 * {@code max_tokens} or size is refused, not cut; keys without bounds of their own get {@code router.key-defaults.*};
 * no key's quota touches another's.
 */
class KeyQuotaTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RATED = "rated-key";
    private static final String RATED_GRPC = "rated-grpc-key";
    private static final String SINGLE = "single-key";
    private static final String SMALL = "small-key";
    private static final String CONFIGURED = "configured-key";
    private static final int DEFAULT_MAX_TOKENS = 32;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static RouterAndAttentionService mesh;
    private static URI base;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-quota", List.of(),
                List.of("-Drouter.key-defaults.max-tokens=" + DEFAULT_MAX_TOKENS,
                        "-Drouter.api-keys=sha256:" + ApiKeyHashes.hash(CONFIGURED)),
                List.of(ApiKeyHashes.line("rated", RATED) + " rate=2/s",
                        ApiKeyHashes.line("rated-grpc", RATED_GRPC) + " rate=2/s",
                        ApiKeyHashes.line("single", SINGLE) + " concurrency=1",
                        ApiKeyHashes.line("small", SMALL) + " max-tokens=8 max-body=1K"));
        base = mesh.base();
        channel = NettyChannelBuilder.forTarget(mesh.router.address()).usePlaintext().build();
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (mesh != null) mesh.close();
    }

    @Test
    void aKeyPastItsRateGets429WithRetryAfterAtRestAndIsServedAfterTheWait() throws Exception {
        List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
        for (int i = 0; i < 3; i++) burst.add(http.sendAsync(completion(RATED, 1, false), HttpResponse.BodyHandlers.ofString()));
        List<HttpResponse<String>> refused = new ArrayList<>();
        int served = 0;
        for (var f : burst) {
            HttpResponse<String> r = f.get(2, TimeUnit.MINUTES);
            if (r.statusCode() == 200) served++;
            else refused.add(r);
        }
        assertEquals(2, served, "rate=2/s serves two of three sent at once");
        assertEquals(1, refused.size());
        HttpResponse<String> r = refused.getFirst();
        assertEquals(429, r.statusCode(), r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertEquals("rate_limit_exceeded", error.get("code").asText());
        assertTrue(error.get("message").asText().contains("API key 'rated' is over its rate of 2/s"), error.toString());
        long retryAfter = Long.parseLong(r.headers().firstValue("retry-after").orElseThrow());
        assertEquals(1, retryAfter, "within a window of 1 s, rounded up");

        assertEquals(200, http.send(completion(RouterAndAttentionService.API_KEY, 1, false),
                HttpResponse.BodyHandlers.ofString()).statusCode(), "another key is not held back");
        Thread.sleep(TimeUnit.SECONDS.toMillis(retryAfter));
        assertEquals(200, http.send(completion(RATED, 1, false), HttpResponse.BodyHandlers.ofString()).statusCode(),
                "served again after Retry-After");
        assertTrue(metric("moemesh_router_quota_refusals_total{door=\"rest\",key=\"rated\",reason=\"rate\"}") >= 1);
    }

    @Test
    void aKeyPastItsRateGetsResourceExhaustedWithRetryInfoAtGrpcAndIsServedAfterTheDelay() throws Exception {
        var stub = InferenceServiceGrpc.newFutureStub(channel).withInterceptors(key(RATED_GRPC));
        List<CompletableFuture<Status.Code>> burst = new ArrayList<>();
        List<StatusRuntimeException> refused = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            var call = stub.complete(tokens(1));
            burst.add(CompletableFuture.supplyAsync(() -> {
                try {
                    call.get(2, TimeUnit.MINUTES);
                    return Status.Code.OK;
                } catch (Exception e) {
                    StatusRuntimeException s = (StatusRuntimeException) e.getCause();
                    synchronized (refused) {
                        refused.add(s);
                    }
                    return s.getStatus().getCode();
                }
            }));
        }
        List<Status.Code> codes = new ArrayList<>();
        for (var c : burst) codes.add(c.get(2, TimeUnit.MINUTES));
        assertEquals(2, codes.stream().filter(c -> c == Status.Code.OK).count(), codes.toString());
        assertEquals(1, refused.size(), codes.toString());
        StatusRuntimeException e = refused.getFirst();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("API key 'rated-grpc' is over its rate of 2/s"),
                e.getStatus().toString());
        RetryInfo retry = StatusProto.fromThrowable(e).getDetailsList().stream().filter(d -> d.is(RetryInfo.class))
                .findFirst().orElseThrow().unpack(RetryInfo.class);
        long delayMillis = retry.getRetryDelay().getSeconds() * 1000 + retry.getRetryDelay().getNanos() / 1_000_000;
        assertTrue(delayMillis > 0 && delayMillis <= 1000, retry.toString());

        Thread.sleep(delayMillis);
        InferenceResponse answer = InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(key(RATED_GRPC))
                .complete(tokens(1));
        assertEquals(1, answer.getTokenIdsCount(), "served again after the delay");
    }

    /**
     * The attention service is stopped (SIGSTOP) while the key's one stream waits on it, so the stream holds its
     * place for as long as the test needs, however fast the tiny model generates.
     */
    @Test
    void aKeyHoldingItsOneStreamIsRefusedASecondUntilTheStreamIsCancelledOrEnds() throws Exception {
        HttpClient holder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        CompletableFuture<HttpResponse<String>> other;
        signal("STOP");
        try {
            holder.sendAsync(completion(SINGLE, DEFAULT_MAX_TOKENS, true), HttpResponse.BodyHandlers.ofString());
            awaitMetric("moemesh_router_key_in_flight{key=\"single\"}", 1);

            HttpResponse<String> second = http.send(completion(SINGLE, 1, false), HttpResponse.BodyHandlers.ofString());
            assertEquals(429, second.statusCode(), second.body());
            assertEquals("concurrency_limit_exceeded", JSON.readTree(second.body()).get("error").get("code").asText());
            assertEquals("1", second.headers().firstValue("retry-after").orElse(null), "router.retry-after");
            StatusRuntimeException grpc = assertThrows(StatusRuntimeException.class, () -> InferenceServiceGrpc
                    .newBlockingStub(channel).withInterceptors(key(SINGLE)).complete(tokens(1)));
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, grpc.getStatus().getCode(), "the place is the key's, both doors");

            other = http.sendAsync(completion(RouterAndAttentionService.API_KEY, 1, false),
                    HttpResponse.BodyHandlers.ofString());
            awaitMetric("moemesh_router_key_in_flight{key=\"tests\"}", 1);

            holder.shutdownNow(); // the client leaves its stream before its first token
            awaitMetric("moemesh_router_key_in_flight{key=\"single\"}", 0);
        } finally {
            signal("CONT");
        }
        assertEquals(200, other.get(2, TimeUnit.MINUTES).statusCode(), "another key was admitted all along");
        HttpResponse<String> stream = http.send(completion(SINGLE, 4, true), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, stream.statusCode(), "served once the cancelled stream gave its place back");
        assertTrue(stream.body().endsWith("data: [DONE]\n\n"), stream.body());
        assertEquals(200, http.send(completion(SINGLE, 1, false), HttpResponse.BodyHandlers.ofString()).statusCode(),
                "served once the stream before it ended");
        assertTrue(metric("moemesh_router_quota_refusals_total{door=\"grpc\",key=\"single\",reason=\"concurrency\"}") >= 1);
    }

    @Test
    void aRequestOverItsKeysMaxTokensOrSizeIsRefusedNotCut() throws Exception {
        HttpResponse<String> tooMany = http.send(completion(SMALL, 9, false), HttpResponse.BodyHandlers.ofString());
        assertEquals(400, tooMany.statusCode(), tooMany.body());
        JsonNode error = JSON.readTree(tooMany.body()).get("error");
        assertEquals("max_tokens_over_key_limit", error.get("code").asText());
        assertEquals("max_tokens", error.get("param").asText());
        assertTrue(error.get("message").asText().contains("max_tokens 9 is over API key 'small''s max-tokens of 8"),
                error.toString());

        HttpResponse<String> unsaid = http.send(post(SMALL, "{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],"
                + "\"ignore_eos\":true}"), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, unsaid.statusCode(), unsaid.body());
        assertEquals(8, JSON.readTree(unsaid.body()).get("usage").get("completion_tokens").asInt(),
                "a request that names no max_tokens gets the key's bound, not OpenAI's 16");

        String padded = "{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],\"max_tokens\":1" + " ".repeat(1100) + "}";
        HttpResponse<String> declared = http.send(post(SMALL, padded), HttpResponse.BodyHandlers.ofString());
        assertEquals(413, declared.statusCode(), declared.body());
        assertTrue(JSON.readTree(declared.body()).get("error").get("message").asText()
                .contains("over API key 'small''s max-body of 1024 bytes"), declared.body());
        HttpResponse<String> chunked = http.send(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("authorization", "Bearer " + SMALL).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(
                        padded.getBytes(StandardCharsets.UTF_8)))).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(413, chunked.statusCode(), "a body of no declared length: " + chunked.body());
        assertEquals(200, http.send(post(RouterAndAttentionService.API_KEY, padded), HttpResponse.BodyHandlers.ofString())
                .statusCode(), "the same body is within another key's bounds");

        var small = InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(key(SMALL));
        StatusRuntimeException grpcTokens = assertThrows(StatusRuntimeException.class, () -> small.complete(tokens(9)));
        assertEquals(Status.Code.INVALID_ARGUMENT, grpcTokens.getStatus().getCode());
        assertTrue(grpcTokens.getStatus().getDescription().contains("sampling.max_tokens 9 is over API key 'small''s"),
                grpcTokens.getStatus().toString());
        StatusRuntimeException grpcSize = assertThrows(StatusRuntimeException.class, () -> small.complete(tokens(1)
                .toBuilder().setPrompt("x".repeat(1100)).clearPromptTokenIds().build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, grpcSize.getStatus().getCode());
        assertTrue(grpcSize.getStatus().getDescription().contains("max-body of 1024 bytes"), grpcSize.getStatus().toString());
        assertTrue(metric("moemesh_router_quota_refusals_total{door=\"rest\",key=\"small\",reason=\"size\"}") >= 2);
        assertTrue(metric("moemesh_router_quota_refusals_total{door=\"grpc\",key=\"small\",reason=\"max_tokens\"}") >= 1);
    }

    @Test
    void keysWithoutBoundsOfTheirOwnGetTheDefaults() throws Exception {
        for (String key : List.of(RouterAndAttentionService.API_KEY, CONFIGURED)) {
            HttpResponse<String> over = http.send(completion(key, DEFAULT_MAX_TOKENS + 1, false),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(400, over.statusCode(), over.body());
            assertTrue(JSON.readTree(over.body()).get("error").get("message").asText()
                    .contains("(router.key-defaults.max-tokens)"), over.body());
            assertEquals(200, http.send(completion(key, DEFAULT_MAX_TOKENS, false), HttpResponse.BodyHandlers.ofString())
                    .statusCode());
        }
    }

    private HttpRequest completion(String key, int maxTokens, boolean stream) {
        return post(key, "{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}");
    }

    private HttpRequest post(String key, String body) {
        return HttpRequest.newBuilder(base.resolve("/v1/completions")).header("content-type", "application/json")
                .header("authorization", "Bearer " + key).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static InferenceRequest tokens(int maxTokens) {
        return InferenceRequest.newBuilder().setModel(NAME).addAllPromptTokenIds(List.of(4, 2, 7, 1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true)).build();
    }

    private static io.grpc.ClientInterceptor key(String key) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        return MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    /** SIGSTOP or SIGCONT to the attention service's process. */
    private static void signal(String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(mesh.attention.process().pid())).inheritIO()
                .start();
        assertEquals(0, kill.waitFor(), "kill -" + name);
    }

    /** One sample of /q/metrics (name and labels as Prometheus prints them); 0 while it does not exist yet. */
    private double metric(String name) throws Exception {
        return Prometheus.find(http.send(HttpRequest.newBuilder(base.resolve("/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body(), name).orElse(0);
    }

    /** Waits (a minute at most) for the router to show {@code value}: the request has got there, or left. */
    private void awaitMetric(String name, double value) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        double seen;
        while ((seen = metric(name)) != value && System.nanoTime() < deadline) Thread.sleep(20);
        assertEquals(value, seen, name);
    }
}
