package dev.moemesh.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.orchestrator.TestBroker;
import dev.moemesh.orchestrator.TopicReader;
import dev.moemesh.router.LocalEngineReference;
import dev.moemesh.tracing.OtlpReceiver.Received;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A client's trace followed through the mesh, every part a real process (a broker, an orchestrator, a router, an
 * attention service and an expert service), each exporting its spans over OTLP to a receiver in this JVM.
 */
class TraceThroughMeshTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_TOKENS = 4;

    private static OtlpReceiver receiver;
    private static TestBroker kafka;
    private static LocalMesh mesh;
    private static LocalMesh.Service router;

    @BeforeAll
    static void start() {
        receiver = OtlpReceiver.start();
        kafka = TestBroker.start();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/tracing"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        List<String> tracing = List.of("-Dquarkus.otel.sdk.disabled=false",
                "-Dquarkus.otel.exporter.otlp.endpoint=" + receiver.endpoint(), "-Dquarkus.otel.bsp.schedule.delay=100ms");
        LocalMesh.Service experts = mesh.startExpertService("trace-experts", MODEL, "*:0-15", LocalMesh.freePort(),
                tracing, READY);
        LocalMesh.Service attention = mesh.startAttentionService("trace-attention", MODEL, List.of(experts.address()),
                LocalMesh.freePort(), tracing, READY);
        List<String> orchestrator = new ArrayList<>(tracing);
        orchestrator.add("-Dorchestrator.model-dir="); // prompt_token_ids only: no tokenizer to load
        mesh.startOrchestrator("trace-orchestrator", MODEL, kafka.bootstrapServers(), List.of(attention.address()),
                LocalMesh.freePort(), LocalMesh.freePort(), orchestrator, READY);
        router = mesh.startRouter("trace-router", MODEL, List.of(attention.address()), LocalMesh.freePort(),
                LocalMesh.freePort(), tracing, READY);
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
        if (receiver != null) receiver.close();
    }

    @Test
    void aRequestRecordsTraceSpansTheDoorTheAttentionAndTheExpertServicesAndComesBackOnItsEvents() throws Exception {
        String traceId = randomHex(16);
        String clientSpanId = randomHex(8);
        send(kafka.bootstrapServers(), "traced-1", "00-" + traceId + "-" + clientSpanId + "-01");

        List<ConsumerRecord<byte[], byte[]>> events = TopicReader.readUntil(kafka.bootstrapServers(),
                "inference.responses", records -> records.stream().anyMatch(TraceThroughMeshTest::terminal),
                READY);
        assertEquals(MAX_TOKENS + 1, events.size(), "a token event per token, then the terminal event");
        assertEquals("completed", json(events.getLast()).path("type").asText());
        for (ConsumerRecord<byte[], byte[]> event : events) {
            Header traceparent = event.headers().lastHeader("traceparent");
            assertTrue(traceparent != null, "every event carries a traceparent: " + json(event));
            assertEquals(traceId, new String(traceparent.value(), StandardCharsets.US_ASCII).split("-")[1],
                    "every event carries the request's trace");
        }

        // each process exports on its own schedule, and a parent span ends after its children: wait for each
        List<Received> spans = receiver.await(received -> received.stream().anyMatch(s ->
                s.traceId().equals(traceId) && s.name().equals("run experts"))
                && received.stream().anyMatch(s -> s.traceId().equals(traceId) && s.name().equals("generation"))
                && received.stream().anyMatch(s -> s.traceId().equals(traceId) && s.name().equals("kafka door request")),
                READY);
        Received door = only(spans, traceId, "orchestrator", "kafka door request");
        assertEquals("traced-1", door.attributes().get("moemesh.request_id"));
        Received generation = only(spans, traceId, "attention-service", "generation");
        assertEquals("traced-1", generation.attributes().get("moemesh.request_id"));
        // the Generate call's server span (Quarkus's gRPC instrumentation) between the door's and the generation's;
        // it ends when the call's stream does, after the generation span, and may come in a later export
        Received generate = exported(generation.parentSpanId());
        assertEquals("attention-service", generate.service());
        assertEquals(door.spanId(), generate.parentSpanId(), "the Generate call is made in the door's span");
        List<Received> steps = spans.stream().filter(s -> s.traceId().equals(traceId)
                && s.name().equals("engine step")).toList();
        assertFalse(steps.isEmpty(), "the generation's engine steps are traced");
        for (Received step : steps) {
            assertEquals("attention-service", step.service());
            assertEquals(List.of(generation.spanId()), step.linkedSpanIds(), "a step links to its generation");
        }
        List<Received> expertRuns = spans.stream().filter(s -> s.traceId().equals(traceId)
                && s.name().equals("run experts")).toList();
        for (Received run : expertRuns) {
            assertEquals("expert-service", run.service());
            Received parent = exported(run.parentSpanId());
            assertEquals(List.of("attention-service", "engine step", traceId, List.of(generation.spanId())),
                    List.of(parent.service(), parent.name(), parent.traceId(), parent.linkedSpanIds()),
                    "an expert service's run is a child of one of the generation's engine steps: " + run);
        }
    }

    @Test
    void aRestRequestsTraceReachesTheAttentionServiceThroughTheRouter() throws Exception {
        String traceId = randomHex(16);
        HttpResponse<String> response = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + router.httpPort() + "/v1/completions"))
                        .header("content-type", "application/json")
                        .header("traceparent", "00-" + traceId + "-" + randomHex(8) + "-01")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"" + LocalEngineReference.NAME
                                + "\",\"prompt\":[4,2,7,1],\"max_tokens\":" + MAX_TOKENS
                                + ",\"temperature\":0,\"ignore_eos\":true}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());

        List<Received> spans = receiver.await(received -> received.stream().anyMatch(s ->
                s.traceId().equals(traceId) && s.name().equals("generation")), READY);
        Received generation = only(spans, traceId, "attention-service", "generation");
        // the Generate call's span ends after the generation's, and the router's span with its response: each may
        // come in a later export than the one before it
        Received generate = exported(generation.parentSpanId());
        Received caller = exported(generate.parentSpanId());
        assertEquals("router-service", caller.service(), "the Generate call is made in the router's span: " + caller);
    }

    private static void send(String bootstrapServers, String id, String traceparent) throws Exception {
        var request = JSON.createObjectNode().put("id", id).put("max_tokens", MAX_TOKENS).put("temperature", 0)
                .put("ignore_eos", true).put("stream", true);
        request.putArray("prompt_token_ids").add(10).add(3).add(7);
        try (var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers), new StringSerializer(), new StringSerializer())) {
            var record = new ProducerRecord<>("inference.requests", id, request.toString());
            record.headers().add("traceparent", traceparent.getBytes(StandardCharsets.US_ASCII));
            producer.send(record).get(30, TimeUnit.SECONDS);
        }
    }

    private static Received only(List<Received> spans, String traceId, String service, String name) {
        List<Received> found = spans.stream().filter(s -> s.traceId().equals(traceId) && s.service().equals(service)
                && s.name().equals(name)).toList();
        assertEquals(1, found.size(), "one span '" + name + "' of " + service + " in the trace: " + spans);
        return found.getFirst();
    }

    /** The span of this id, once the receiver has it. */
    private static Received exported(String spanId) throws InterruptedException {
        return byId(receiver.await(received -> received.stream().anyMatch(s -> s.spanId().equals(spanId)), READY),
                spanId);
    }

    private static Received byId(List<Received> spans, String spanId) {
        return spans.stream().filter(s -> s.spanId().equals(spanId)).findFirst()
                .orElseThrow(() -> new AssertionError("no span " + spanId + " among " + spans));
    }

    private static boolean terminal(ConsumerRecord<byte[], byte[]> record) {
        String type = json(record).path("type").asText();
        return type.equals("completed") || type.equals("error");
    }

    private static JsonNode json(ConsumerRecord<byte[], byte[]> record) {
        try {
            return JSON.readTree(record.value());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        ThreadLocalRandom.current().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
