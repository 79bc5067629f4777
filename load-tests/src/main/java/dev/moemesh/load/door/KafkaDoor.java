package dev.moemesh.load.door;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.load.workload.LoadRequest;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The orchestrator's Kafka door, as an event producer uses it: each request a record on {@code inference.requests}
 * (keyed by its id, {@code stream: true}, or false when only the answer's time matters); one consumer thread reads every partition of {@code inference.responses}
 * from its end at start and hands each request its {@code token} events and its terminal event ({@code completed},
 * or {@code error}, counted by its code as {@code kafka_<code>}).
 */
public final class KafkaDoor implements Door {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String requests;
    private final boolean stream;
    private final KafkaProducer<String, String> producer;
    private final KafkaConsumer<String, String> consumer;
    private final Map<String, RequestTrace> waiting = new ConcurrentHashMap<>();
    /** The ids whose terminal event came, so that a second one is counted; the reader thread's own. */
    private final Set<String> ended = new HashSet<>();
    private final AtomicLong repeatedTerminals = new AtomicLong();
    private final Thread reader;
    private final CountDownLatch positioned = new CountDownLatch(1);
    private volatile boolean closing;

    public KafkaDoor(String bootstrapServers, String requestsTopic, String responsesTopic, boolean stream) {
        this.requests = requestsTopic;
        this.stream = stream;
        this.producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers, ProducerConfig.LINGER_MS_CONFIG, 0, ProducerConfig.ACKS_CONFIG, "all"),
                new StringSerializer(), new StringSerializer());
        this.consumer = new KafkaConsumer<>(Map.<String, Object>of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false, ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG,
                5, ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000), new StringDeserializer(), new StringDeserializer());
        this.reader = new Thread(() -> read(responsesTopic), "kafka-door-responses");
        reader.setDaemon(true);
        reader.start();
        try {
            if (!positioned.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no partition of " + responsesTopic + " at " + bootstrapServers
                        + " within 60 s: is the orchestrator up (it creates the topics)?");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reaching " + bootstrapServers);
        }
    }

    @Override
    public String name() {
        return stream ? "kafka" : "kafka-unstreamed";
    }

    @Override
    public void send(LoadRequest r, RequestTrace trace) {
        ObjectNode body = JSON.createObjectNode().put("id", r.id()).put("max_tokens", r.maxTokens())
                .put("temperature", 0).put("ignore_eos", true).put("stream", stream);
        var ids = body.putArray("prompt_token_ids");
        for (int t : r.promptIds()) ids.add(t);
        waiting.put(r.id(), trace);
        trace.sent(System.nanoTime());
        producer.send(new ProducerRecord<>(requests, r.id(), body.toString()), (meta, e) -> {
            if (e != null) {
                waiting.remove(r.id());
                trace.failed(System.nanoTime(), "kafka_produce_" + e.getClass().getSimpleName());
            }
        });
    }

    private void read(String topic) {
        try {
            List<TopicPartition> partitions;
            while ((partitions = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList()).isEmpty()) {
                Thread.sleep(200);
            }
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            for (TopicPartition p : partitions) consumer.position(p); // resolves the end now, before any request
            positioned.countDown();
            while (!closing) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
                    RequestTrace trace = waiting.get(r.key());
                    if (trace != null) {
                        deliver(r.key(), r.value(), trace);
                    } else if (ended.contains(r.key()) && terminal(r.value())) {
                        repeatedTerminals.incrementAndGet();
                    }
                }
            }
        } catch (WakeupException | InterruptedException stopping) {
            // closing
        } finally {
            consumer.close();
        }
    }

    private void deliver(String id, String value, RequestTrace trace) {
        long now = System.nanoTime();
        JsonNode event;
        try {
            event = JSON.readTree(value);
        } catch (IOException e) {
            waiting.remove(id);
            trace.failed(now, "kafka_unreadable_event");
            return;
        }
        switch (event.path("type").asText()) {
            case "token" -> trace.token(now);
            case "completed" -> {
                waiting.remove(id);
                ended.add(id);
                JsonNode ids = event.path("token_ids");
                int[] answer = new int[ids.size()];
                for (int i = 0; i < answer.length; i++) answer[i] = ids.get(i).asInt();
                trace.answered(now, answer);
            }
            case "error" -> {
                waiting.remove(id);
                ended.add(id);
                trace.failed(now, "kafka_" + event.path("code").asText("error"));
            }
            default -> { }
        }
    }

    private static boolean terminal(String value) {
        try {
            String type = JSON.readTree(value).path("type").asText();
            return type.equals("completed") || type.equals("error");
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public long repeatedTerminalEvents() {
        return repeatedTerminals.get();
    }

    @Override
    public void close() {
        closing = true;
        consumer.wakeup();
        try {
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(5));
    }
}
