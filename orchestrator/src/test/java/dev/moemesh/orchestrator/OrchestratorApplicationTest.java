package dev.moemesh.orchestrator;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

/** The packaged application: its settings start the front door, which serves the contract's default topics. */
@QuarkusTest
@QuarkusTestResource(value = BrokerAndAttentionService.class, restrictToAnnotatedClass = true)
class OrchestratorApplicationTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ConfigProperty(name = "orchestrator.bootstrap-servers")
    String bootstrapServers;

    @Test
    void servesARequestFromInferenceRequestsAndIsLiveAndReady() throws Exception {
        given().get("/q/health/live").then().statusCode(200).body(containsString("kafka-front-door"));
        given().get("/q/health/ready").then().statusCode(200).body(containsString("kafka-front-door"));
        try (var producer = new KafkaProducer<String, String>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName(),
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName()))) {
            producer.send(new ProducerRecord<>("inference.requests", "app-1",
                    "{\"id\":\"app-1\",\"prompt_token_ids\":[4,2],\"max_tokens\":3,\"ignore_eos\":true}")).get();
        }
        var records = TopicReader.readUntil(bootstrapServers, "inference.responses", rs -> !rs.isEmpty(),
                Duration.ofSeconds(60));
        JsonNode completed = JSON.readTree(records.get(0).value());
        assertEquals("app-1", completed.get("id").asText());
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertEquals(3, completed.get("token_ids").size());
        given().get("/q/metrics").then().statusCode(200)
                .body(containsString("moemesh_orchestrator_terminal_events_total 1.0"))
                .body(containsString("moemesh_orchestrator_requests_running"))
                .body(containsString("moemesh_door_generations_total{door=\"kafka\",outcome=\"length\"} 1.0"))
                .body(containsString("moemesh_door_time_to_first_token_seconds_count{door=\"kafka\"} 1"));
    }
}
