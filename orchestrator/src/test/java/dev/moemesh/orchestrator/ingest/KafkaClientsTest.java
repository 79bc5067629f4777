package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.kafka.clients.consumer.ConsumerConfig;
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
        for (Properties p : new Properties[] {k.reader(), k.admin()}) {
            for (String key : SASL_SSL.keySet()) {
                if (!key.equals("group.id")) assertEquals(SASL_SSL.get(key), p.get(key), key);
            }
        }
        assertEquals("broker-0:9093,broker-1:9093", k.bootstrapServers());
    }

    @Test
    void theDoorsOwnSettingsHoldAndItsDefaultsGiveWay() {
        KafkaClients k = new KafkaClients(SASL_SSL);
        assertEquals("false", k.reader().get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG));
        assertFalse(k.reader().containsKey(ConsumerConfig.GROUP_ID_CONFIG), "the read-back joins no group");
        assertEquals("15000", k.admin().get("default.api.timeout.ms"));
        assertEquals("60000", new KafkaClients(Map.of("bootstrap.servers", "b:9092", "default.api.timeout.ms", "60000"))
                .admin().get("default.api.timeout.ms"), "a setting given replaces the door's default");
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
        assertEquals("-1", new KafkaClients(Map.of("bootstrap.servers", "b:9092", "acks", "-1",
                "enable.idempotence", "TRUE")).settings().get("acks"));
    }

    @Test
    void withoutBootstrapServersItSaysWhichSettingIsMissing() {
        var e = assertThrows(IllegalArgumentException.class, () -> new KafkaClients(Map.of("security.protocol", "SSL")));
        assertTrue(e.getMessage().contains("kafka.bootstrap.servers"), e.getMessage());
    }
}
