package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Properties;

class KafkaClientsTest {
    private static final Map<String, Object> SASL_SSL = Map.of(
            "bootstrap.servers", "broker-0:9093,broker-1:9093",
            "security.protocol", "SASL_SSL",
            "sasl.mechanism", "SCRAM-SHA-512",
            "sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"p\";",
            "ssl.truststore.location", "/etc/kafka/truststore.p12",
            "ssl.truststore.password", "changeit",
            "linger.ms", "5",
            "group.id", "orchestrator");

    @Test
    void everySettingReachesEveryClient() {
        KafkaClients k = new KafkaClients(SASL_SSL);
        for (Properties p : new Properties[] {k.producer(), k.consumer("door", 16), k.reader(), k.admin()}) {
            for (String key : SASL_SSL.keySet()) {
                if (!key.equals("group.id")) assertEquals(SASL_SSL.get(key), p.get(key), key);
            }
        }
        assertEquals("broker-0:9093,broker-1:9093", k.bootstrapServers());
    }

    @Test
    void theDoorsOwnSettingsHoldAndItsDefaultsGiveWay() {
        KafkaClients k = new KafkaClients(SASL_SSL);
        Properties producer = k.producer();
        assertEquals("all", producer.get(ProducerConfig.ACKS_CONFIG));
        assertEquals("true", producer.get(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG));
        assertEquals("5", producer.get(ProducerConfig.LINGER_MS_CONFIG), "a setting given replaces the door's default");
        Properties consumer = k.consumer("door", 16);
        assertEquals("false", consumer.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG));
        assertEquals("door", consumer.get(ConsumerConfig.GROUP_ID_CONFIG), "orchestrator.group-id, not Quarkus's group.id");
        assertEquals("16", consumer.get(ConsumerConfig.MAX_POLL_RECORDS_CONFIG));
        assertFalse(k.reader().containsKey(ConsumerConfig.GROUP_ID_CONFIG), "the read-back joins no group");
        assertEquals("15000", k.admin().get("default.api.timeout.ms"));
    }

    @Test
    void aSettingTheDeliveryRestsOnIsRefusedNamingIt() {
        var e = assertThrows(IllegalArgumentException.class, () -> new KafkaClients(Map.of(
                "bootstrap.servers", "b:9092", "enable.auto.commit", "true")));
        assertTrue(e.getMessage().startsWith("kafka.enable.auto.commit=true is refused"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KafkaClients(Map.of(
                "bootstrap.servers", "b:9092", "acks", "1")));
        assertTrue(e.getMessage().contains("kafka.acks=1 is refused: the Kafka door needs all"), e.getMessage());
        // the same value as the door's is no conflict
        assertEquals("all", new KafkaClients(Map.of("bootstrap.servers", "b:9092", "acks", "-1",
                "enable.idempotence", "TRUE")).producer().get("acks"));
    }

    @Test
    void withoutBootstrapServersItSaysWhichSettingIsMissing() {
        var e = assertThrows(IllegalArgumentException.class, () -> new KafkaClients(Map.of("security.protocol", "SSL")));
        assertTrue(e.getMessage().contains("kafka.bootstrap.servers"), e.getMessage());
    }
}
