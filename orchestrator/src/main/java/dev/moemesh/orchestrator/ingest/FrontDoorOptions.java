package dev.moemesh.orchestrator.ingest;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * How the front door runs ({@code docs/operations.md} lists the matching {@code orchestrator.*} settings).
 *
 * @param kafka           the settings of its own Kafka clients (every {@code kafka.*} setting passed through): the
 *                        admin client that makes the topics and the reader of the terminal events at start
 * @param maxInFlight     requests running on attention services at once; more wait in Kafka (the connector pauses)
 * @param topicPartitions partitions of a topic the orchestrator creates
 * @param modelDir        the checkpoint whose tokenizer encodes {@code prompt} and decodes {@code text}; empty: token
 *                        ids only
 * @param replyTopicPattern the topics a request may name as its {@code reply_topic} (the whole name must match);
 *                        empty: none
 */
public record FrontDoorOptions(KafkaClients kafka, Topics topics, List<String> attentionServices,
                               int maxInFlight, int topicPartitions, Optional<Path> modelDir, Duration readBackTimeout,
                               Optional<Pattern> replyTopicPattern) {
    public FrontDoorOptions {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("orchestrator.max-in-flight must be at least 1, got " + maxInFlight);
        }
        attentionServices = List.copyOf(attentionServices);
    }
}
