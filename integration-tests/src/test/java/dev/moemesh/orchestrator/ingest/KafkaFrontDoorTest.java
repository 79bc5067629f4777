package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.events;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.ints;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.request;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.terminal;
import static dev.moemesh.orchestrator.ingest.ResponseRecords.terminals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.ChatPrompt;
import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.orchestrator.TestBroker;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.router.LocalEngineReference;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import dev.moemesh.orchestrator.TopicReader;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.function.Predicate;
import java.util.stream.IntStream;

/**
 * The front door against a real broker (in this JVM), each door a packaged orchestrator process, and a real attention
 * service (a process serving a tiny checkpoint): requests in, events out, dead letters, duplicates and a restart. Each
 * test has topics and a consumer group of its own.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KafkaFrontDoorTest {
    private static final ObjectMapper JSON = ResponseRecords.JSON;
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Duration READY = Duration.ofMinutes(3);

    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private TestBroker kafka;
    private LocalMesh mesh;
    private LocalMesh.Service attention;
    private KafkaProducer<byte[], byte[]> client;
    private Topics topics;
    private final List<DoorProcess> doors = new ArrayList<>();
    private int started;

    @BeforeAll
    void startTheBrokerAndAnAttentionService() {
        long t0 = System.nanoTime();
        kafka = TestBroker.start();
        System.out.printf("in-process Kafka broker ready in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/door"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        attention = mesh.startAttentionService("attention", model, List.of(), LocalMesh.freePort(), List.of(),
                Duration.ofMinutes(3));
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        client = new KafkaProducer<>(p);
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

    private DoorProcess door(TestInfo test, int maxInFlight) {
        return door(test, maxInFlight, attention.address());
    }

    private DoorProcess door(TestInfo test, int maxInFlight, String attentionAddress) {
        return door(test, maxInFlight, attentionAddress, Optional.empty());
    }

    /** A door with the checkpoint's tokenizer (text prompts, messages, stop strings, text in responses). */
    private DoorProcess doorWithTokenizer(TestInfo test) {
        return door(test, 256, attention.address(), Optional.of(model));
    }

    private DoorProcess door(TestInfo test, int maxInFlight, String attentionAddress, Optional<Path> modelDir) {
        return door(test, maxInFlight, attentionAddress, modelDir, Optional.empty());
    }

    private DoorProcess door(TestInfo test, int maxInFlight, String attentionAddress, Optional<Path> modelDir,
                      Optional<String> replyTopics) {
        return door(test, maxInFlight, List.of(attentionAddress), modelDir, replyTopics);
    }

    /** Starts an orchestrator on this test's topics and group, configured as an operator would, and waits for it. */
    private DoorProcess door(TestInfo test, int maxInFlight, List<String> attentionAddresses, Optional<Path> modelDir,
                      Optional<String> replyTopics) {
        if (topics == null || !topics.requests().endsWith(test.getTestMethod().orElseThrow().getName())) {
            String suffix = "." + test.getTestMethod().orElseThrow().getName();
            topics = new Topics("requests" + suffix, "responses" + suffix, "dlq" + suffix);
        }
        List<String> props = new ArrayList<>(List.of("-Dorchestrator.topics.requests=" + topics.requests(),
                "-Dorchestrator.topics.responses=" + topics.responses(), "-Dorchestrator.topics.dlq=" + topics.dlq(),
                "-Dorchestrator.group-id=orchestrator-" + topics.requests(),
                "-Dorchestrator.max-in-flight=" + maxInFlight, "-Dorchestrator.topic-partitions=2",
                "-Dorchestrator.read-back-timeout=30s",
                // the throttled commits every 5 s by default; the tests wait for them
                "-Dmp.messaging.incoming.inference-requests.auto.commit.interval.ms=300",
                "-Dorchestrator.model-dir=" + modelDir.map(d -> d.toAbsolutePath().toString()).orElse("")));
        replyTopics.ifPresent(p -> props.add("-Dorchestrator.reply-topic-pattern=" + p));
        DoorProcess d = new DoorProcess(mesh.startOrchestrator("orchestrator-" + started++, model, kafka.bootstrapServers(),
                attentionAddresses, LocalMesh.freePort(), LocalMesh.freePort(), props, READY));
        doors.add(d);
        return d;
    }

    private void send(String key, String value) throws Exception {
        client.send(new ProducerRecord<>(topics.requests(), key == null ? null : utf8(key), utf8(value))).get();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private int[] localEngineTokens(int maxTokens, int... prompt) {
        var r = new GenerationRequest("reference", prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true));
        return new BatchingEngine(Model.load(model, 0), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
    }

    private List<ConsumerRecord<byte[], byte[]>> readUntil(String topic, Predicate<List<ConsumerRecord<byte[], byte[]>>> done) {
        return TopicReader.readUntil(kafka.bootstrapServers(), topic, done, WAIT);
    }

    /**
     * Waits until the orchestrator's group has committed every request sent so far: each was finished (its terminal
     * event or dead letter acknowledged, or skipped as a duplicate).
     */
    private void awaitAllRequestsCommitted() throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            List<TopicPartition> partitions = admin.describeTopics(List.of(topics.requests())).allTopicNames().get()
                    .get(topics.requests()).partitions().stream().map(i -> new TopicPartition(topics.requests(), i.partition()))
                    .toList();
            var ends = admin.listOffsets(partitions.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
                    .all().get();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (true) {
                var committed = admin.listConsumerGroupOffsets("orchestrator-" + topics.requests())
                        .partitionsToOffsetAndMetadata().get();
                boolean all = partitions.stream().allMatch(tp -> ends.get(tp).offset() == 0
                        || (committed.get(tp) != null && committed.get(tp).offset() == ends.get(tp).offset()));
                if (all) return;
                if (System.nanoTime() > deadline) throw new AssertionError("offsets " + committed + " never reached " + ends);
                Thread.sleep(100);
            }
        }
    }

    private List<ConsumerRecord<byte[], byte[]>> responsesUntilTerminal(String... ids) {
        return readUntil(topics.responses(), rs -> Arrays.stream(ids).allMatch(id -> terminals(rs, id) > 0));
    }

    @Test
    void requestsRefusedForLoadWaitAndAreTriedAgainSoEachGetsOneCompleted(TestInfo test) throws Exception {
        LocalMesh.Service onePlace = mesh.startAttentionService("attention-one-place", model, List.of(),
                LocalMesh.freePort(), List.of("-Dattention.max-sequences=1", "-Dattention.max-queued-requests=0"),
                Duration.ofMinutes(3));
        DoorProcess door = door(test, 16, onePlace.address());
        String[] ids = IntStream.range(0, 8).mapToObj(i -> "busy-" + i).toArray(String[]::new);
        // 60 tokens each keep the one place busy for far longer than the 8 sends take (milliseconds), on any machine;
        // the 8 run one after another, so they must also fit the wait for their responses on a slow one
        for (String id : ids) send(id, request(id, 60, false, 3, 1, 4, 1, 5));
        List<ConsumerRecord<byte[], byte[]>> responses = responsesUntilTerminal(ids);
        for (String id : ids) {
            assertEquals(1, terminals(responses, id), id + " has one terminal event");
            JsonNode end = events(responses).stream().filter(e -> e.get("id").asText().equals(id) && terminal(e))
                    .findFirst().orElseThrow();
            assertEquals("completed", end.get("type").asText(), "a refusal for load is no error event: " + end);
            assertEquals(60, end.get("token_ids").size());
        }
        assertTrue(door.generations("refused") > 0,
                "8 requests at once on one place: the service refused some, and the door sent them again");
        awaitAllRequestsCommitted();
        onePlace.kill();
    }

    /**
     * One of two attention services SIGKILLed while the door has streamed requests in flight, each with token events
     * out: the door runs them again on the other ({@code AttentionCall}), so each id still gets its token events once
     * per index, with the single-process engine's greedy tokens, and exactly one terminal event, {@code completed}.
     */
    @Test
    void killingOneOfTwoAttentionServicesUnderStreamedRequestsCostsNoEventAndDuplicatesNone(TestInfo test)
            throws Exception {
        List<LocalMesh.Service> pair = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            pair.add(mesh.startAttentionService("attention-kill-" + i, model, List.of(), LocalMesh.freePort(), List.of(),
                    Duration.ofMinutes(3)));
        }
        try {
            DoorProcess door = door(test, 16, pair.stream().map(LocalMesh.Service::address).toList(), Optional.empty(),
                    Optional.empty());
            int maxTokens = 24;
            String[] ids = IntStream.range(0, 6).mapToObj(i -> "kill-" + i).toArray(String[]::new);
            for (int i = 0; i < ids.length; i++) send(ids[i], request(ids[i], maxTokens, true, 3 + i, 11, 7 + 2 * i, 1));
            // every request has token events out before the kill, so a run again must replay them invisibly
            readUntil(topics.responses(), rs -> Arrays.stream(ids).allMatch(id -> events(rs).stream()
                    .anyMatch(e -> e.get("id").asText().equals(id) && e.get("type").asText().equals("token"))));
            int[] running = pair.stream().mapToInt(KafkaFrontDoorTest::runningSequences).toArray();
            LocalMesh.Service victim = pair.get(running[0] >= running[1] ? 0 : 1);
            victim.kill();
            assertTrue(Math.max(running[0], running[1]) > 0, "the killed service was generating: " + Arrays.toString(running));

            List<JsonNode> events = events(responsesUntilTerminal(ids));
            assertTrue(door.metric("moemesh_door_generation_runs_again_total{door=\"kafka\"}") > 0,
                    "the door ran the killed service's generations again");
            for (int i = 0; i < ids.length; i++) {
                String id = ids[i];
                List<JsonNode> mine = events.stream().filter(e -> e.get("id").asText().equals(id)).toList();
                assertEquals(1, mine.stream().filter(ResponseRecords::terminal).count(), id + ": one terminal event");
                JsonNode end = mine.stream().filter(ResponseRecords::terminal).findFirst().orElseThrow();
                assertEquals("completed", end.get("type").asText(), id + ": " + end);
                int[] expected = localEngineTokens(maxTokens, 3 + i, 11, 7 + 2 * i, 1);
                assertArrayEquals(expected, ints(end.get("token_ids")), id);
                List<JsonNode> tokens = mine.stream().filter(e -> e.get("type").asText().equals("token")).toList();
                assertEquals(maxTokens, tokens.size(), id + ": one token event per (id, index)");
                for (int k = 0; k < tokens.size(); k++) {
                    assertEquals(k, tokens.get(k).get("index").asInt(), id + ": token events in order, once each");
                    assertEquals(expected[k], tokens.get(k).get("token_id").asInt(), id + " index " + k);
                }
            }
            awaitAllRequestsCommitted();
        } finally {
            pair.forEach(LocalMesh.Service::kill);
        }
    }

    private static int runningSequences(LocalMesh.Service attention) {
        ManagedChannel c = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
        try {
            return AttentionServiceGrpc.newBlockingStub(c).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()).getRunningSequences();
        } finally {
            c.shutdownNow();
        }
    }

    @Test
    void aStreamedRequestGetsItsTokenEventsThenOneCompletedWithTheLocalEnginesGreedyTokens(TestInfo test) throws Exception {
        DoorProcess door = door(test, 256);
        send("s1", request("s1", 12, true, 5, 17, 42, 7));
        List<JsonNode> events = events(responsesUntilTerminal("s1"));
        awaitMetric(door, "moemesh_door_time_to_first_token_seconds_count{door=\"kafka\"}", 1); // recorded
        awaitMetric(door, "moemesh_door_generations_total{door=\"kafka\",outcome=\"length\"}", 1);
        int[] expected = localEngineTokens(12, 5, 17, 42, 7);

        JsonNode completed = events.get(events.size() - 1);
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertEquals("length", completed.get("finish_reason").asText());
        assertArrayEquals(expected, ints(completed.get("token_ids")));
        assertEquals(4, completed.get("usage").get("prompt_tokens").asInt());
        assertEquals(12, completed.get("usage").get("completion_tokens").asInt());
        assertTrue(completed.get("timings").get("total_ms").asDouble() > 0, completed.toString());
        List<JsonNode> tokens = events.subList(0, events.size() - 1);
        assertEquals(12, tokens.size(), "one token event per generated token, before the terminal event");
        for (int i = 0; i < tokens.size(); i++) {
            assertEquals("token", tokens.get(i).get("type").asText());
            assertEquals(i, tokens.get(i).get("index").asInt());
            assertEquals(expected[i], tokens.get(i).get("token_id").asInt());
        }
    }

    /** Waits until the door's {@code series} reads {@code expected}: it counts as the event goes out, not before. */
    private static void awaitMetric(DoorProcess door, String series, double expected) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        double now;
        while ((now = door.metric(series)) != expected) {
            if (System.nanoTime() > deadline) throw new AssertionError(series + " is " + now + ", not " + expected);
            Thread.sleep(100);
        }
    }

    @Test
    void aDuplicateIdGetsNoSecondTerminalEvent(TestInfo test) throws Exception {
        DoorProcess door = door(test, 256);
        send("d1", request("d1", 4, false, 9, 5));
        responsesUntilTerminal("d1");
        send("d1", request("d1", 4, false, 9, 5));
        send("d2", request("d2", 4, false, 9, 6));
        awaitAllRequestsCommitted(); // the duplicate was taken and finished, whatever partition it went to
        List<ConsumerRecord<byte[], byte[]>> responses = responsesUntilTerminal("d2");
        assertEquals(1, terminals(responses, "d1"));
        awaitMetric(door, "moemesh_orchestrator_duplicates_total", 1);
        assertEquals(2, responses.size(), "not streamed: only the two terminal events");
    }

    @Test
    void aMalformedMessageLandsInTheDlqWithItsReasonWhileTheNextGoodOneIsServed(TestInfo test) throws Exception {
        door(test, 256);
        send("bad", "{\"id\": \"bad\", \"prompt_token_ids\": [1, 2");
        send("odd", "{\"id\":\"odd\",\"prompt_token_ids\":[1],\"n\":2}");
        send("good", request("good", 3, false, 1, 2));
        JsonNode good = events(responsesUntilTerminal("good")).get(0);
        assertEquals("completed", good.get("type").asText(), good.toString());
        assertArrayEquals(localEngineTokens(3, 1, 2), ints(good.get("token_ids")));

        List<ConsumerRecord<byte[], byte[]>> dead = readUntil(topics.dlq(), rs -> rs.size() >= 2);
        Map<String, ConsumerRecord<byte[], byte[]>> byKey = Map.of(new String(dead.get(0).key(), StandardCharsets.UTF_8),
                dead.get(0), new String(dead.get(1).key(), StandardCharsets.UTF_8), dead.get(1));
        assertEquals("{\"id\": \"bad\", \"prompt_token_ids\": [1, 2", new String(byKey.get("bad").value(), StandardCharsets.UTF_8),
                "the dead letter keeps the original bytes");
        // the connector's standard dead-letter headers, the door's reason in dead-letter-reason
        assertTrue(header(byKey.get("bad"), "dead-letter-reason").startsWith("not JSON"),
                header(byKey.get("bad"), "dead-letter-reason"));
        assertTrue(header(byKey.get("odd"), "dead-letter-reason").startsWith("unknown field 'n'"));
        assertEquals(topics.requests(), header(byKey.get("odd"), "dead-letter-topic"));
        assertTrue(Long.parseLong(header(byKey.get("odd"), "dead-letter-offset")) >= 0);
        assertTrue(Integer.parseInt(header(byKey.get("odd"), "dead-letter-partition")) >= 0);
    }

    @Test
    void aRequestTheAttentionServiceRefusesEndsWithAnErrorEventAndTheNextIsServed(TestInfo test) throws Exception {
        door(test, 256);
        send("v1", request("v1", 3, true, 1, 100_000));
        send("v2", request("v2", 3, false, 1, 2));
        List<JsonNode> events = events(responsesUntilTerminal("v1", "v2"));
        JsonNode v1 = events.stream().filter(e -> e.get("id").asText().equals("v1")).findFirst().orElseThrow();
        assertEquals("error", v1.get("type").asText(), v1.toString());
        assertEquals(KafkaFrontDoor.REJECTED, v1.get("code").asText());
        assertTrue(v1.get("message").asText().contains("100000"), v1.toString());
        JsonNode v2 = events.stream().filter(e -> e.get("id").asText().equals("v2")).findFirst().orElseThrow();
        assertArrayEquals(localEngineTokens(3, 1, 2), ints(v2.get("token_ids")));
    }

    @Test
    void messagesAreRenderedByTheCheckpointsChatTemplate(TestInfo test) throws Exception {
        doorWithTokenizer(test);
        List<ChatMessage> chat = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hello there"));
        send("m1", "{\"id\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_tokens\":6,\"ignore_eos\":true}");
        JsonNode completed = events(responsesUntilTerminal("m1")).get(0);
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        int[] prompt;
        try (Tokenizer tokenizer = Tokenizer.load(model).orElseThrow()) {
            prompt = ChatPrompt.encode(tokenizer, chat); // what the REST door's chat completions send too
            assertTrue(tokenizer.decode(prompt, false).contains("Hello there"), "the template wrote the turns");
        }
        assertEquals(prompt.length, completed.get("usage").get("prompt_tokens").asInt());
        assertArrayEquals(localEngineTokens(6, prompt), ints(completed.get("token_ids")));
    }

    @Test
    void aStopStringEndsTheGenerationAndIsLeftOutOfTheText(TestInfo test) throws Exception {
        DoorProcess door = doorWithTokenizer(test);
        int[] prompt = {3, 1, 4, 1, 5};
        int[] free = localEngineTokens(24, prompt); // where the greedy generation goes without a stop string
        String text;
        String stop;
        int n;
        try (Tokenizer tokenizer = Tokenizer.load(model).orElseThrow()) {
            text = tokenizer.decode(free, true);
            int from = tokenizer.decode(Arrays.copyOf(free, 6), true).length(); // a stop string some tokens in
            assertTrue(text.length() >= from + 2, "the tiny model's greedy text is long enough: " + text);
            stop = text.substring(from, from + 2);
            n = 1; // the first count of tokens whose text holds it
            while (!tokenizer.decode(Arrays.copyOf(free, n), true).contains(stop)) n++;
        }
        assertTrue(n < free.length, "the stop string comes before max_tokens");
        send("st1", "{\"id\":\"st1\",\"prompt_token_ids\":[3,1,4,1,5],\"max_tokens\":24,\"ignore_eos\":true,"
                + "\"stream\":true,\"stop\":[\"never-in-this-text\"," + JSON.writeValueAsString(stop) + "]}");
        List<JsonNode> events = events(responsesUntilTerminal("st1"));
        JsonNode completed = events.get(events.size() - 1);
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertEquals("stop", completed.get("finish_reason").asText());
        assertEquals(text.substring(0, text.indexOf(stop)), completed.get("text").asText(), "the text up to the stop string");
        assertArrayEquals(Arrays.copyOf(free, n), ints(completed.get("token_ids")),
                "the tokens up to the one that completed the stop string");
        assertEquals(n, completed.get("usage").get("completion_tokens").asInt());
        assertEquals(attention.address(), completed.get("attention_service").asText());
        assertEquals(n, events.size() - 1, "no token event after the stop string's");
        assertEquals(1, terminals(responsesUntilTerminal("st1"), "st1"));
        awaitMetric(door, "moemesh_door_generations_total{door=\"kafka\",outcome=\"stop\"}", 1); // not "cancelled"
        assertEquals(0, door.generations("cancelled"));
    }

    /**
     * {@code logprobs} through the door: per token the single-process engine's figures (greedy: the token is its own
     * top alternative), a streamed token event's entry the completed event's, a stop string's tokens one entry each;
     * a request that asks wrongly is a dead letter with the reason, and the requests around it are served.
     */
    @Test
    void logprobsAreTheSingleProcessEnginesAndEachTokenEventCarriesItsTokensEntry(TestInfo test) throws Exception {
        doorWithTokenizer(test);
        int[] prompt = {5, 17, 42, 7};
        int maxTokens = 12;
        List<TokenLogprobs> expected = LocalEngineReference.greedyLogprobs(prompt, maxTokens, 3);
        int[] greedy = localEngineTokens(maxTokens, prompt);
        String stop;
        int n; // tokens up to the one that completes the stop string
        try (Tokenizer tokenizer = Tokenizer.load(model).orElseThrow()) {
            String text = tokenizer.decode(greedy, true);
            int from = tokenizer.decode(Arrays.copyOf(greedy, 4), true).length();
            assertTrue(text.length() >= from + 2, "the tiny model's greedy text is long enough: " + text);
            stop = text.substring(from, from + 2);
            n = 1;
            while (!tokenizer.decode(Arrays.copyOf(greedy, n), true).contains(stop)) n++;
        }
        String asked = "\"prompt_token_ids\":" + Arrays.toString(prompt) + ",\"max_tokens\":" + maxTokens
                + ",\"ignore_eos\":true,\"stream\":true";
        send("lp1", "{\"id\":\"lp1\"," + asked + ",\"logprobs\":true,\"top_logprobs\":3}");
        send("lp-bad-k", "{\"id\":\"lp-bad-k\"," + asked + ",\"logprobs\":true,\"top_logprobs\":21}");
        send("lp-bad-alone", "{\"id\":\"lp-bad-alone\"," + asked + ",\"top_logprobs\":3}");
        send("lp-stop", "{\"id\":\"lp-stop\"," + asked + ",\"logprobs\":true,\"top_logprobs\":3,\"stop\":"
                + JSON.writeValueAsString(stop) + "}");
        send("lp-none", "{\"id\":\"lp-none\"," + asked + "}");
        List<JsonNode> events = events(responsesUntilTerminal("lp1", "lp-stop", "lp-none"));

        JsonNode completed = terminalOf(events, "lp1");
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertArrayEquals(greedy, ints(completed.get("token_ids")));
        JsonNode logprobs = completed.get("logprobs");
        assertEquals(maxTokens, logprobs.size(), "one entry per token of token_ids");
        for (int i = 0; i < maxTokens; i++) {
            JsonNode entry = logprobs.get(i);
            TokenLogprobs e = expected.get(i);
            assertEquals(greedy[i], entry.get("token_id").asInt(), "token " + i);
            assertEquals(e.logprob(), entry.get("logprob").asDouble(), 1e-6, "token " + i);
            JsonNode top = entry.get("top_logprobs");
            assertEquals(3, top.size(), "token " + i + ": " + entry);
            for (int j = 0; j < 3; j++) {
                assertEquals(e.topIds()[j], top.get(j).get("token_id").asInt(), "token " + i + " alternative " + j);
                assertEquals(e.topLogprobs()[j], top.get(j).get("logprob").asDouble(), 1e-6,
                        "token " + i + " alternative " + j);
            }
            assertEquals(greedy[i], top.get(0).get("token_id").asInt(), "greedy: top-1 is the token " + i);
            assertEquals(entry.get("logprob").asDouble(), top.get(0).get("logprob").asDouble(), 0.0);
        }
        List<JsonNode> tokens = tokenEventsOf(events, "lp1");
        assertEquals(maxTokens, tokens.size());
        for (int i = 0; i < maxTokens; i++) {
            assertEquals(logprobs.get(i), tokens.get(i).get("logprobs"), "token event " + i + " carries its entry");
        }

        JsonNode stopped = terminalOf(events, "lp-stop");
        assertEquals("stop", stopped.get("finish_reason").asText(), stopped.toString());
        assertArrayEquals(Arrays.copyOf(greedy, n), ints(stopped.get("token_ids")));
        assertEquals(n, stopped.get("logprobs").size(), "an entry per token up to the stop string's, none after");
        for (int i = 0; i < n; i++) {
            assertEquals(logprobs.get(i), stopped.get("logprobs").get(i), "stop request token " + i);
            assertEquals(logprobs.get(i), tokenEventsOf(events, "lp-stop").get(i).get("logprobs"));
        }

        JsonNode plain = terminalOf(events, "lp-none");
        assertArrayEquals(greedy, ints(plain.get("token_ids")));
        assertTrue(!plain.has("logprobs"), "not asked, no logprobs field: " + plain);
        assertTrue(tokenEventsOf(events, "lp-none").stream().noneMatch(t -> t.has("logprobs")));

        List<ConsumerRecord<byte[], byte[]>> dead = readUntil(topics.dlq(), rs -> rs.size() >= 2);
        assertEquals(2, dead.size());
        for (ConsumerRecord<byte[], byte[]> d : dead) {
            String reason = header(d, "dead-letter-reason");
            switch (new String(d.key(), StandardCharsets.UTF_8)) {
                case "lp-bad-k" -> assertEquals("field 'top_logprobs' must be an integer in [0, 20], got 21", reason);
                case "lp-bad-alone" -> assertEquals("field 'top_logprobs' needs logprobs: true", reason);
                default -> throw new AssertionError("unexpected dead letter " + d);
            }
        }
        assertTrue(events.stream().noneMatch(e -> e.get("id").asText().startsWith("lp-bad")),
                "a refused request has no events, only its dead letter");
        awaitAllRequestsCommitted();
    }

    private static JsonNode terminalOf(List<JsonNode> events, String id) {
        return events.stream().filter(e -> e.get("id").asText().equals(id) && terminal(e)).findFirst().orElseThrow();
    }

    private static List<JsonNode> tokenEventsOf(List<JsonNode> events, String id) {
        return events.stream().filter(e -> e.get("id").asText().equals(id) && e.get("type").asText().equals("token"))
                .toList();
    }

    @Test
    void stopStringsOrMessagesWithoutATokenizerGetAnErrorNamingTheSetting(TestInfo test) throws Exception {
        door(test, 256);
        send("nt1", "{\"id\":\"nt1\",\"prompt_token_ids\":[3,1],\"stop\":\"x\"}");
        send("nt2", "{\"id\":\"nt2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        for (JsonNode e : events(responsesUntilTerminal("nt1", "nt2"))) {
            assertEquals("error", e.get("type").asText(), e.toString());
            assertEquals(KafkaFrontDoor.NO_TOKENIZER, e.get("code").asText());
            assertTrue(e.get("message").asText().contains("orchestrator.model-dir"), e.toString());
        }
    }

    @Test
    void aReplyTopicTheSettingAllowsGetsTheEventsAndIsReadBackAfterARestart(TestInfo test) throws Exception {
        Optional<String> replies = Optional.of("replies\\..+");
        DoorProcess first = door(test, 256, attention.address(), Optional.empty(), replies);
        String mine = "replies.aReplyTopic";
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic(mine, 1, (short) 1))).all().get();
        }
        String asked = "{\"id\":\"rt1\",\"prompt_token_ids\":[3,1],\"max_tokens\":3,\"ignore_eos\":true,"
                + "\"stream\":true,\"reply_topic\":\"" + mine + "\"}";
        send("rt1", asked);
        send("rt2", "{\"id\":\"rt2\",\"prompt_token_ids\":[3,1],\"reply_topic\":\"elsewhere\"}");
        send("rt3", "{\"id\":\"rt3\",\"prompt_token_ids\":[3,1],\"reply_topic\":\"replies.nobody-made-it\"}");
        send("rt4", request("rt4", 3, false, 3, 1));

        List<JsonNode> mineEvents = events(readUntil(mine, rs -> terminals(rs, "rt1") > 0));
        assertEquals(4, mineEvents.size(), "3 token events and the completed one, all on the reply topic");
        assertArrayEquals(localEngineTokens(3, 3, 1), ints(mineEvents.get(3).get("token_ids")));
        List<ConsumerRecord<byte[], byte[]>> responses = responsesUntilTerminal("rt4");
        assertEquals(0, events(responses).stream().filter(e -> e.get("id").asText().equals("rt1")).count(),
                "nothing of rt1 on " + topics.responses());
        List<ConsumerRecord<byte[], byte[]>> dead = readUntil(topics.dlq(), rs -> rs.size() >= 2);
        for (ConsumerRecord<byte[], byte[]> d : dead) {
            String reason = header(d, "dead-letter-reason");
            switch (new String(d.key(), StandardCharsets.UTF_8)) {
                case "rt2" -> assertEquals("field 'reply_topic' 'elsewhere' does not match orchestrator.reply-topic-pattern"
                        + " 'replies\\..+'", reason);
                case "rt3" -> assertTrue(reason.contains("reply_topic 'replies.nobody-made-it' does not exist"), reason);
                default -> throw new AssertionError("unexpected dead letter " + d);
            }
        }
        awaitAllRequestsCommitted();

        first.close();
        doors.remove(first);
        DoorProcess second = door(test, 256, attention.address(), Optional.empty(), replies);
        send("rt1", asked); // sent again: its terminal event is on the reply topic, read back at start
        awaitAllRequestsCommitted();
        awaitMetric(second, "moemesh_orchestrator_duplicates_total", 1);
        List<ConsumerRecord<byte[], byte[]>> after = readUntil(mine, rs -> rs.size() >= 4);
        assertEquals(4, after.size(), "nothing written for the resent request");
        assertEquals(1, terminals(after, "rt1"), "still one terminal event");
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        var h = r.headers().lastHeader(name);
        if (h == null) throw new AssertionError("dead letter without header " + name);
        return new String(h.value(), StandardCharsets.UTF_8);
    }

    @Test
    void anOrchestratorRestartMidStreamLosesNoRequest(TestInfo test) throws Exception {
        DoorProcess first = door(test, 2); // two at a time: the others wait in Kafka
        List<String> ids = IntStream.range(0, 8).mapToObj(i -> "r" + i).toList();
        for (int i = 0; i < ids.size(); i++) send(ids.get(i), request(ids.get(i), 24, true, 3, i + 10));
        readUntil(topics.responses(), rs -> !rs.isEmpty()); // the first token is out: requests are mid-stream
        double peak = first.metric("moemesh_orchestrator_requests_running_peak");
        double full = first.metric("moemesh_orchestrator_in_flight_full_total");
        first.close();
        assertTrue(peak <= 2, "at most max-in-flight requests ran at once: " + peak);
        assertTrue(full >= 1, "the door filled up, and the rest waited in Kafka: " + full);
        doors.remove(first);
        // the first door has exited: every terminal event it wrote is on the topic
        List<ConsumerRecord<byte[], byte[]>> written = TopicReader.readAll(kafka.bootstrapServers(), topics.responses(),
                WAIT);
        long finishedBeforeRestart = ids.stream().filter(id -> terminals(written, id) > 0).count();
        door(test, 2);
        List<JsonNode> events = events(responsesUntilTerminal(ids.toArray(String[]::new)));
        for (int i = 0; i < ids.size(); i++) {
            String id = ids.get(i);
            List<JsonNode> ends = events.stream().filter(e -> e.get("id").asText().equals(id) && terminal(e)).toList();
            assertEquals(1, ends.size(), "request " + id + " has exactly one terminal event");
            assertEquals("completed", ends.get(0).get("type").asText(), ends.get(0).toString());
            assertArrayEquals(localEngineTokens(24, 3, i + 10), ints(ends.get(0).get("token_ids")), id);
        }
        awaitAllRequestsCommitted();
        assertTrue(finishedBeforeRestart < ids.size(), "the restart came before every request had finished ("
                + finishedBeforeRestart + " of " + ids.size() + ")");
    }
}
