package dev.moemesh.orchestrator;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiPredicate;
import java.util.function.Predicate;

/** Reads a whole topic from its beginning, as a client of the contract would, until what was read is enough. */
public final class TopicReader {
    private TopicReader() {}

    /** Every record of {@code topic} from its beginning, read until {@code done} holds of them (else fails). */
    public static List<ConsumerRecord<byte[], byte[]>> readUntil(String bootstrapServers, String topic,
                                                                Predicate<List<ConsumerRecord<byte[], byte[]>>> done,
                                                                Duration limit) {
        return readUntil(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), topic, done, limit);
    }

    /** As above, as a client with these settings (e.g. SASL's). */
    public static List<ConsumerRecord<byte[], byte[]>> readUntil(Map<String, ?> settings, String topic,
                                                                Predicate<List<ConsumerRecord<byte[], byte[]>>> done,
                                                                Duration limit) {
        return read(settings, topic, (c, out) -> done.test(out), limit);
    }

    /** Every record now on {@code topic}: read from its beginning up to the end offsets it has when asked. */
    public static List<ConsumerRecord<byte[], byte[]>> readAll(String bootstrapServers, String topic, Duration limit) {
        AtomicReference<Map<TopicPartition, Long>> end = new AtomicReference<>(); // when first asked
        return read(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), topic, (c, out) -> {
            if (end.get() == null) end.set(c.endOffsets(c.assignment()));
            return end.get().entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue());
        }, limit);
    }

    /** Reads {@code topic} from its beginning, every partition, until {@code done} holds of the consumer and the records. */
    private static List<ConsumerRecord<byte[], byte[]>> read(Map<String, ?> settings, String topic,
            BiPredicate<KafkaConsumer<byte[], byte[]>, List<ConsumerRecord<byte[], byte[]>>> done, Duration limit) {
        Properties p = new Properties();
        p.putAll(settings);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(partitions);
            c.seekToBeginning(partitions);
            long deadline = System.nanoTime() + limit.toNanos();
            while (!done.test(c, out)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("waited " + limit + " on " + topic + "; read " + out.size() + " records");
                }
                c.poll(Duration.ofMillis(100)).forEach(out::add);
            }
        }
        return out;
    }
}
