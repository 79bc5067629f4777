package dev.moemesh.orchestrator.ingest;

import dev.moemesh.orchestrator.api.ResponseEvents;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The request ids that already have their terminal event on {@code inference.responses}, so that a request seen
 * again (redelivered, resent, or replayed after a restart) gets no second one. At start-up it reads the responses
 * topic from its beginning to its end; afterwards each acknowledged terminal event adds its id.
 */
public final class CompletedIds {
    private final Set<String> ids = ConcurrentHashMap.newKeySet();

    public boolean contains(String id) {
        return ids.contains(id);
    }

    void add(String id) {
        ids.add(id);
    }

    public int size() {
        return ids.size();
    }

    /** Reads every terminal event now on {@code topics} (keyed by request id). */
    public static CompletedIds readBack(KafkaClients kafka, List<String> topics, Duration limit) {
        Properties p = kafka.reader();
        CompletedIds out = new CompletedIds();
        long deadline = System.nanoTime() + limit.toNanos();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : topics) {
                c.partitionsFor(topic, limit).forEach(i -> partitions.add(new TopicPartition(i.topic(), i.partition())));
            }
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = c.endOffsets(partitions, limit);
            while (partitions.stream().anyMatch(tp -> c.position(tp, limit) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("reading the terminal events of " + topics + " took over "
                            + limit.toSeconds() + " s; raise orchestrator.read-back-timeout");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.key() == null || r.value() == null) continue;
                    String type = ResponseEvents.type(r.value()).orElse("");
                    if (type.equals(ResponseEvents.COMPLETED) || type.equals(ResponseEvents.ERROR)) {
                        out.add(new String(r.key(), StandardCharsets.UTF_8));
                    }
                }
            }
        }
        return out;
    }
}
