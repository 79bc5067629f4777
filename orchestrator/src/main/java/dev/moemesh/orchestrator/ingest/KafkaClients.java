package dev.moemesh.orchestrator.ingest;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The settings of the Kafka door's clients: every {@code kafka.*} setting of the application, as Quarkus's
 * Kafka client extension collects them (the {@code default-kafka-broker} map: {@code kafka.security.protocol},
 * {@code kafka.sasl.jaas.config}, {@code kafka.ssl.truststore.location}, {@code KAFKA_SASL_MECHANISM} in the
 * environment, ...). The messaging connector's channels take the same map (under their own
 * {@code mp.messaging.*} settings); this class builds the door's own two clients from it: the admin client that
 * creates the topics and the consumer that reads the terminal events back. The settings the door's guarantees rest
 * on may be given only with the value it needs; any other value is refused at start, naming the setting (the
 * channels' own settings would override it silently).
 */
public final class KafkaClients {
    /** The requests channel's group is {@code orchestrator.group-id}; the {@code group.id} Quarkus derives is not used. */
    private static final String GROUP_ID = ConsumerConfig.GROUP_ID_CONFIG;

    /** What docs/kafka.md's delivery rests on: hand commits after the terminal event, acknowledged, not repeated. */
    private static final Map<String, String> PRODUCER_OWN = Map.of(
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
            ProducerConfig.ACKS_CONFIG, "all");
    private static final Map<String, String> CONSUMER_OWN = Map.of(
            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
            ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName(),
            ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    private static final Map<String, String> WHY = Map.of(
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "an event sent again must not be written twice",
            ProducerConfig.ACKS_CONFIG, "a request is committed only once its terminal event is on every replica",
            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "the door commits a record only after its terminal event");

    private final Map<String, Object> given;

    /**
     * @param given the pass-through settings, Kafka's own names without the {@code kafka.} prefix; must name
     *              {@code bootstrap.servers}
     * @throws IllegalArgumentException a setting the door owns with another value than it needs, or no
     *                                  {@code bootstrap.servers}
     */
    public KafkaClients(Map<String, ?> given) {
        Map<String, Object> copy = new TreeMap<>(given);
        copy.remove(GROUP_ID);
        Object servers = copy.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
        if (servers == null || servers.toString().isBlank()) {
            throw new IllegalArgumentException("no Kafka bootstrap servers: set kafka.bootstrap.servers"
                    + " (or orchestrator.bootstrap-servers)");
        }
        refuseOtherValues(copy, PRODUCER_OWN);
        refuseOtherValues(copy, CONSUMER_OWN);
        this.given = Map.copyOf(copy);
    }

    private static void refuseOtherValues(Map<String, Object> given, Map<String, String> own) {
        own.forEach((key, needed) -> {
            Object v = given.get(key);
            if (v == null) return;
            String value = v instanceof Class<?> c ? c.getName() : v.toString().trim();
            boolean same = value.equalsIgnoreCase(needed) || (key.equals(ProducerConfig.ACKS_CONFIG) && value.equals("-1"));
            if (!same) {
                throw new IllegalArgumentException("kafka." + key + "=" + value + " is refused: the Kafka door needs "
                        + needed + (WHY.containsKey(key) ? " (" + WHY.get(key) + ")" : "")
                        + "; remove the setting (docs/kafka.md, Delivery)");
            }
        });
    }

    /** The broker's address, as given. */
    public String bootstrapServers() {
        return given.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG).toString();
    }

    /** The settings as given (without {@code group.id}), for a test's or a tool's own client. */
    public Map<String, Object> settings() {
        return given;
    }

    /** A consumer of no group that reads a topic by assignment (the read-back of terminal events). */
    public Properties reader() {
        Properties p = new Properties();
        p.putAll(given);
        p.putAll(CONSUMER_OWN);
        return p;
    }

    /**
     * The admin client that creates the topics: an unreachable broker fails it in 15 s (not the default 60), unless
     * the settings say otherwise, and the start is tried again.
     */
    public Properties admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.putAll(given);
        return p;
    }
}
