package dev.moemesh.orchestrator.ingest;

import static dev.moemesh.orchestrator.ingest.ResponseRecords.events;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.ints;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.request;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.terminal;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.terminals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.orchestrator.TestBroker;
import dev.moemesh.orchestrator.TopicReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.IntStream;

/**
 * Two orchestrators in one consumer group, as packaged processes, against a real broker and a real attention service:
 * one of them SIGKILLed under load, or a second one added under load, moves partitions whose requests are running;
 * every id still gets exactly one terminal event, {@code completed} with the single-process engine's greedy tokens,
 * and every token event it gets carries the right token for its index (token events may repeat after a move).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OrchestratorGroupTest {
    private static final Duration WAIT = Duration.ofSeconds(180);
    private static final Duration READY = Duration.ofMinutes(3);
    private static final int REQUESTS = 24;
    private static final int MAX_TOKENS = 32;

    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private TestBroker kafka;
    private LocalMesh mesh;
    private LocalMesh.Service attention;
    private KafkaProducer<byte[], byte[]> client;
    private final List<DoorProcess> doors = new ArrayList<>();
    private final Map<String, int[]> expected = new HashMap<>();
    private int started;

    @BeforeAll
    void start() {
        kafka = TestBroker.start();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/group"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        attention = mesh.startAttentionService("group-attention", model, List.of(), LocalMesh.freePort(), List.of(),
                Duration.ofMinutes(3));
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        client = new KafkaProducer<>(p);
        // what every request must end with: the single-process engine's greedy tokens, all prompts in one batch
        List<GenerationRequest> reference = IntStream.range(0, REQUESTS).mapToObj(i -> new GenerationRequest(
                "g" + i, prompt(i), new SamplingParams(MAX_TOKENS, 0f, 0, 1f, 0, null, true))).toList();
        new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(reference)
                .forEach(r -> expected.put(r.id(), r.tokenIds()));
    }

    @AfterAll
    void stop() throws Exception {
        if (client != null) client.close();
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
    }

    @AfterEach
    void closeDoors() {
        doors.forEach(DoorProcess::close);
        doors.clear();
    }

    private static int[] prompt(int i) {
        return new int[] {3 + i % 7, 11 + i, 5, 1 + i % 3};
    }

    /**
     * An orchestrator of group {@code group} on {@code topics}: at most 4 requests at once, so the rest wait in Kafka
     * and partitions hold work when they move; a dead member is noticed after the broker's shortest session (6 s).
     */
    private DoorProcess door(String group, Topics topics) {
        List<String> props = List.of("-Dorchestrator.topics.requests=" + topics.requests(),
                "-Dorchestrator.topics.responses=" + topics.responses(), "-Dorchestrator.topics.dlq=" + topics.dlq(),
                "-Dorchestrator.group-id=" + group, "-Dorchestrator.max-in-flight=4",
                "-Dorchestrator.topic-partitions=4", "-Dorchestrator.model-dir=",
                "-Dmp.messaging.incoming.inference-requests.session.timeout.ms=6000",
                "-Dmp.messaging.incoming.inference-requests.heartbeat.interval.ms=1000",
                "-Dmp.messaging.incoming.inference-requests.auto.commit.interval.ms=300");
        DoorProcess d = new DoorProcess(mesh.startOrchestrator("group-orchestrator-" + started++, model,
                kafka.bootstrapServers(), List.of(attention.address()), LocalMesh.freePort(), LocalMesh.freePort(),
                props, READY));
        doors.add(d);
        return d;
    }

    private List<String> sendAll(Topics topics) throws Exception {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            String id = "g" + i;
            byte[] key = id.getBytes(StandardCharsets.UTF_8);
            client.send(new ProducerRecord<>(topics.requests(), key,
                    request(id, MAX_TOKENS, true, prompt(i)).getBytes(StandardCharsets.UTF_8))).get();
            ids.add(id);
        }
        return ids;
    }

    private long terminalsOn(Topics topics, List<String> ids) {
        List<ConsumerRecord<byte[], byte[]>> now = TopicReader.readAll(kafka.bootstrapServers(), topics.responses(), WAIT);
        return ids.stream().filter(id -> terminals(now, id) > 0).count();
    }

    private void awaitTerminals(Topics topics, List<String> ids, long atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (terminalsOn(topics, ids) < atLeast) {
            if (System.nanoTime() > deadline) throw new AssertionError("fewer than " + atLeast + " terminal events");
            Thread.sleep(100);
        }
    }

    /** Every id has exactly one terminal event, completed, with the engine's tokens; each token event is right. */
    private void assertOneRightTerminalEventEach(Topics topics, List<String> ids) {
        List<JsonNode> events = events(TopicReader.readUntil(kafka.bootstrapServers(), topics.responses(),
                rs -> ids.stream().allMatch(id -> terminals(rs, id) > 0), WAIT));
        for (String id : ids) {
            List<JsonNode> mine = events.stream().filter(e -> e.get("id").asText().equals(id)).toList();
            List<JsonNode> ends = mine.stream().filter(ResponseRecords::terminal).toList();
            assertEquals(1, ends.size(), id + ": exactly one terminal event, got " + ends);
            assertEquals("completed", ends.get(0).get("type").asText(), id + ": " + ends.get(0));
            assertArrayEquals(expected.get(id), ints(ends.get(0).get("token_ids")), id);
            for (JsonNode t : mine.stream().filter(e -> !terminal(e)).toList()) {
                assertEquals(expected.get(id)[t.get("index").asInt()], t.get("token_id").asInt(), id + ": " + t);
            }
        }
    }

    @Test
    void killingOneOfTwoOrchestratorsUnderLoadWritesOneTerminalEventPerId() throws Exception {
        Topics topics = new Topics("requests.group-kill", "responses.group-kill", "dlq.group-kill");
        DoorProcess victim = door("group-kill", topics);
        DoorProcess survivor = door("group-kill", topics);
        List<String> ids = sendAll(topics);
        awaitTerminals(topics, ids, 6); // both at work, requests running on both
        victim.process().kill();
        doors.remove(victim);
        assertOneRightTerminalEventEach(topics, ids);
        assertTrue(survivor.metric("moemesh_orchestrator_terminal_events_total") > 0, "the survivor served");
    }

    @Test
    void addingAnOrchestratorUnderLoadWritesOneTerminalEventPerId() throws Exception {
        Topics topics = new Topics("requests.group-add", "responses.group-add", "dlq.group-add");
        DoorProcess first = door("group-add", topics);
        List<String> ids = sendAll(topics);
        awaitTerminals(topics, ids, 4); // the first is at work: 4 running, the rest waiting in Kafka
        DoorProcess second = door("group-add", topics);
        assertOneRightTerminalEventEach(topics, ids);
        double left = first.metric("moemesh_orchestrator_requests_left_total");
        double servedBySecond = second.metric("moemesh_orchestrator_terminal_events_total");
        System.out.printf("group-add: %.0f running requests left to the new member, which wrote %.0f terminal events%n",
                left, servedBySecond);
        assertTrue(servedBySecond > 0, "partitions moved to the new member, which served their requests");
    }
}
