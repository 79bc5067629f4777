package dev.moemesh.orchestrator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The packaged orchestrator against a broker that needs authentication (SASL_PLAINTEXT, PLAIN), configured only
 * through the {@code kafka.*} settings every Quarkus Kafka client takes: signed in, it serves a request end to end;
 * a client or an orchestrator with a wrong password is refused, and says why.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SaslKafkaTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration READY = Duration.ofMinutes(3);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private InProcessKafka kafka;
    private LocalMesh mesh;
    private LocalMesh.Service attention;

    @BeforeAll
    void startTheBrokerAndAnAttentionService() {
        kafka = InProcessKafka.startWithSasl();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/sasl"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        attention = mesh.startAttentionService("sasl-attention", model, List.of(), LocalMesh.freePort(), List.of(),
                Duration.ofMinutes(3));
    }

    @AfterAll
    void stop() throws Exception {
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
    }

    /** The orchestrator's settings for this broker, as an operator writes them (or as KAFKA_* variables). */
    private static List<String> signIn(String user, String password, String group) {
        return List.of("-Dkafka.security.protocol=SASL_PLAINTEXT", "-Dkafka.sasl.mechanism=PLAIN",
                "-Dkafka.sasl.jaas.config=" + InProcessKafka.jaasConfig(user, password),
                "-Dorchestrator.group-id=" + group);
    }

    private KafkaProducer<byte[], byte[]> producer(String user, String password) {
        return kafka.saslProducer(user, password);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void signedInThroughTheKafkaSettingsTheOrchestratorServesARequestEndToEnd() throws Exception {
        mesh.startOrchestrator("sasl-orchestrator", model, kafka.bootstrapServers(), List.of(attention.address()),
                LocalMesh.freePort(), LocalMesh.freePort(), signIn(InProcessKafka.USER, InProcessKafka.PASSWORD,
                        "sasl-orchestrator"), READY);
        String request = "{\"id\":\"sasl-1\",\"prompt_token_ids\":[3,1,4,1,5],\"max_tokens\":6,\"ignore_eos\":true}";
        try (KafkaProducer<byte[], byte[]> client = producer(InProcessKafka.USER, InProcessKafka.PASSWORD)) {
            client.send(new ProducerRecord<>("inference.requests", utf8("sasl-1"), utf8(request)))
                    .get(60, TimeUnit.SECONDS);
        }
        List<ConsumerRecord<byte[], byte[]>> responses = TopicReader.readUntil(
                InProcessKafka.saslClient(kafka.bootstrapServers(), InProcessKafka.USER, InProcessKafka.PASSWORD),
                "inference.responses", rs -> !rs.isEmpty(), WAIT);
        assertEquals(1, responses.size(), "one terminal event, nothing else (not streamed)");
        JsonNode completed = JSON.readTree(responses.get(0).value());
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertEquals("sasl-1", completed.get("id").asText());
        int[] ids = new int[completed.get("token_ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = completed.get("token_ids").get(i).asInt();
        var reference = new GenerationRequest("reference", new int[] {3, 1, 4, 1, 5},
                new SamplingParams(6, 0f, 0, 1f, 0, null, true));
        assertArrayEquals(new BatchingEngine(Model.load(model, 0), EngineOptions.defaults())
                .generate(List.of(reference)).get(0).tokenIds(), ids, "the tokens the engine gives in one process");
    }

    @Test
    void aClientWithAWrongPasswordIsRefusedWithTheBrokersReason() {
        try (KafkaProducer<byte[], byte[]> intruder = producer(InProcessKafka.USER, "not-the-password")) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> intruder.send(
                    new ProducerRecord<>("inference.requests", utf8("x"), utf8("{\"id\":\"x\"}"))).get(60, TimeUnit.SECONDS));
            assertInstanceOf(SaslAuthenticationException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("Invalid username or password"), e.getCause().getMessage());
        }
    }

    @Test
    void anOrchestratorWithAWrongPasswordIsNotReadyAndItsReadinessSaysWhy() throws Exception {
        int httpPort = LocalMesh.freePort();
        LocalMesh.Service wrong = mesh.launchOrchestrator("sasl-wrong-password", model, kafka.bootstrapServers(),
                List.of(attention.address()), httpPort, LocalMesh.freePort(),
                signIn(InProcessKafka.USER, "not-the-password", "sasl-wrong-password"));
        try {
            long deadline = System.nanoTime() + READY.toNanos();
            String last = "";
            while (!last.contains("Authentication failed")) {
                if (System.nanoTime() > deadline) throw new AssertionError("readiness never named the cause: " + last);
                Thread.sleep(200);
                last = ready(httpPort);
            }
            assertTrue(last.startsWith("503 "), last);
            assertTrue(last.contains("Invalid username or password"), last);
            assertTrue(wrong.process().isAlive(), "the process stays up (its control plane serves), not ready");
        } finally {
            wrong.kill();
        }
    }

    /** "status body" of /q/health/ready, or "" while nothing listens yet. */
    private static String ready(int port) throws InterruptedException {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                    + "/q/health/ready")).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() + " " + r.body();
        } catch (IOException e) {
            return "";
        }
    }
}
