package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kafka door's delivery promise against a crash, with everything a real process: a broker, an attention
 * service, and an orchestrator that is SIGKILLed while its requests stream and then started again.
 */
class OrchestratorCrashTest {
    private static final Duration READY = Duration.ofMinutes(3);
    private static final int REQUESTS = 8;
    private static final int MAX_TOKENS = 24;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aKilledOrchestratorLosesNoRequestAndItsSuccessorAnswersEachIdOnceWithTheLocalEnginesTokens(@TempDir Path home)
            throws Exception {
        Path model = TestModels.tiny(Preset.TINY_V3);
        List<String> ids = new ArrayList<>();
        List<GenerationRequest> reference = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            ids.add("crash-" + i);
            reference.add(new GenerationRequest(ids.get(i), prompt(i), new SamplingParams(MAX_TOKENS, 0f, 0, 1f, 0, null,
                    true)));
        }
        List<Generation> expected = new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(reference);

        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/crash"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))) {
            LocalMesh.Service broker = mesh.startBroker("crash-kafka", home.resolve("kafka"), LocalMesh.freePort(), READY);
            LocalMesh.Service attention = mesh.startAttentionService("crash-attention", model, List.of(),
                    LocalMesh.freePort(), List.of(), READY);
            LocalMesh.Service first = mesh.startOrchestrator("crash-orchestrator-1", model, broker.address(),
                    List.of(attention.address()), LocalMesh.freePort(), READY);
            try (var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                    broker.address()), new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < REQUESTS; i++) {
                    var request = JSON.createObjectNode().put("id", ids.get(i)).put("max_tokens", MAX_TOKENS)
                            .put("temperature", 0).put("ignore_eos", true).put("stream", true);
                    var promptIds = request.putArray("prompt_token_ids");
                    for (int t : prompt(i)) promptIds.add(t);
                    producer.send(new ProducerRecord<>("inference.requests", ids.get(i), request.toString()))
                            .get(30, TimeUnit.SECONDS);
                }
            }
            List<JsonNode> beforeKill = readResponses(broker.address(), events -> !events.isEmpty());
            first.kill(); // mid-stream: its first token events are out
            long finishedBeforeKill = beforeKill.stream().filter(OrchestratorCrashTest::terminal).count();
            assertTrue(finishedBeforeKill < REQUESTS, "the kill came before every request had finished");

            mesh.startOrchestrator("crash-orchestrator-2", model, broker.address(), List.of(attention.address()),
                    LocalMesh.freePort(), READY);
            List<JsonNode> events = readResponses(broker.address(), all -> ids.stream().allMatch(id ->
                    all.stream().anyMatch(e -> e.path("id").asText().equals(id) && terminal(e))));
            for (int i = 0; i < REQUESTS; i++) {
                String id = ids.get(i);
                List<JsonNode> ends = events.stream().filter(e -> e.path("id").asText().equals(id) && terminal(e))
                        .toList();
                assertEquals(1, ends.size(), "request " + id + " has exactly one terminal event: " + ends);
                assertEquals("completed", ends.get(0).path("type").asText(), ends.get(0).toString());
                int[] got = new int[ends.get(0).path("token_ids").size()];
                for (int t = 0; t < got.length; t++) got[t] = ends.get(0).path("token_ids").get(t).asInt();
                assertArrayEquals(expected.get(i).tokenIds(), got, id);
            }
        }
    }

    private static int[] prompt(int i) {
        return new int[] {i + 10, 3, 7};
    }

    private static boolean terminal(JsonNode event) {
        String type = event.path("type").asText();
        return type.equals("completed") || type.equals("error");
    }

    /** Every event on inference.responses from its beginning, read until {@code done} holds of them. */
    private static List<JsonNode> readResponses(String bootstrapServers, Predicate<List<JsonNode>> done)
            throws Exception {
        Map<String, Object> config = new HashMap<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.GROUP_ID_CONFIG, "crash-test-" + UUID.randomUUID(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"));
        List<JsonNode> events = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of("inference.responses"));
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (!done.test(events)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("waited 3 min on inference.responses; read " + events.size() + " events");
                }
                for (var r : consumer.poll(Duration.ofMillis(100))) events.add(JSON.readTree(r.value()));
            }
        }
        return events;
    }
}
