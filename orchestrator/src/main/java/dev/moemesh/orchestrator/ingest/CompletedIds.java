package dev.moemesh.orchestrator.ingest;

import dev.moemesh.orchestrator.api.ResponseEvents;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The request ids that already have their terminal event on the events topics ({@code inference.responses} and the
 * reply topics), so that a request seen again (redelivered, resent, replayed after a restart, or taken over from
 * another orchestrator of the group) gets no second one. At start-up it reads the topics from their beginning to
 * their end; each acknowledged terminal event of this door adds its id, and {@link #catchUp} reads what was written
 * since (by any door), before this door takes over partitions.
 */
public final class CompletedIds {
    private final Set<String> ids = ConcurrentHashMap.newKeySet();
    private final KafkaClients kafka;
    private final List<String> topics;
    private final Duration limit;
    /** Where the last read stopped, per partition of the events topics. */
    private final Map<TopicPartition, Long> positions = new HashMap<>();

    private CompletedIds(KafkaClients kafka, List<String> topics, Duration limit) {
        this.kafka = kafka;
        this.topics = List.copyOf(topics);
        this.limit = limit;
    }

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
        CompletedIds out = new CompletedIds(kafka, topics, limit);
        out.catchUp();
        return out;
    }

    /** Reads the terminal events written since the last read, up to the topics' ends now; returns how many. */
    public synchronized int catchUp() {
        int before = ids.size();
        long deadline = System.nanoTime() + limit.toNanos();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.reader())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : topics) {
                c.partitionsFor(topic, limit).forEach(i -> partitions.add(new TopicPartition(i.topic(), i.partition())));
            }
            c.assign(partitions);
            for (TopicPartition tp : partitions) {
                Long at = positions.get(tp);
                if (at == null) {
                    c.seekToBeginning(List.of(tp));
                } else {
                    c.seek(tp, at);
                }
            }
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
                        ids.add(new String(r.key(), StandardCharsets.UTF_8));
                    }
                }
            }
            for (TopicPartition tp : partitions) positions.put(tp, c.position(tp, limit));
        }
        return ids.size() - before;
    }
}
