package dev.moemesh.orchestrator.ingest;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.nio.charset.StandardCharsets;

/** The dead letter of a request that cannot be served: its key and value unchanged, the reason and source in headers. */
public final class DeadLetters {
    public static final String REASON = "moemesh.dlq.reason";
    public static final String SOURCE_TOPIC = "moemesh.dlq.source.topic";
    public static final String SOURCE_PARTITION = "moemesh.dlq.source.partition";
    public static final String SOURCE_OFFSET = "moemesh.dlq.source.offset";

    private DeadLetters() {}

    static ProducerRecord<byte[], byte[]> of(ConsumerRecord<byte[], byte[]> r, String dlq, String reason) {
        RecordHeaders headers = new RecordHeaders();
        for (Header h : r.headers()) headers.add(h);
        headers.add(REASON, utf8(reason));
        headers.add(SOURCE_TOPIC, utf8(r.topic()));
        headers.add(SOURCE_PARTITION, utf8(Integer.toString(r.partition())));
        headers.add(SOURCE_OFFSET, utf8(Long.toString(r.offset())));
        return new ProducerRecord<>(dlq, null, r.key(), r.value(), headers);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
