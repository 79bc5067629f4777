package dev.moemesh.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.load.door.KafkaDoor;
import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.orchestrator.TestBroker;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The load generator's Kafka door against a real broker, the answers written by the test as an orchestrator would:
 * a request's terminal event ends its trace, and a second terminal event for the same id is counted, not lost.
 */
class KafkaDoorTest {
    @Test
    void aSecondTerminalEventForAnEndedRequestIsCounted() throws Exception {
        try (TestBroker kafka = TestBroker.start()) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
                admin.createTopics(List.of(new NewTopic("requests.door", 1, (short) 1),
                        new NewTopic("responses.door", 2, (short) 1))).all().get(60, TimeUnit.SECONDS);
            }
            CountDownLatch ended = new CountDownLatch(2);
            try (KafkaDoor door = new KafkaDoor(kafka.bootstrapServers(), "requests.door", "responses.door", true);
                 var orchestrator = new KafkaProducer<String, String>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                         kafka.bootstrapServers()), new StringSerializer(), new StringSerializer())) {
                RequestTrace once = new RequestTrace("once", System.nanoTime(), t -> ended.countDown());
                RequestTrace twice = new RequestTrace("twice", System.nanoTime(), t -> ended.countDown());
                door.send(new LoadRequest("once", new int[] {1, 2}, 2), once);
                door.send(new LoadRequest("twice", new int[] {1, 2}, 2), twice);
                for (String id : List.of("once", "twice", "twice")) {
                    orchestrator.send(new ProducerRecord<>("responses.door", id, "{\"type\":\"token\",\"id\":\"" + id
                            + "\",\"index\":0,\"token_id\":5}")).get();
                    orchestrator.send(new ProducerRecord<>("responses.door", id, "{\"type\":\"completed\",\"id\":\""
                            + id + "\",\"token_ids\":[5,6]}")).get();
                }
                assertTrue(ended.await(60, TimeUnit.SECONDS), "both requests answered");
                assertEquals(2, once.outputTokens());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (door.repeatedTerminalEvents() < 1 && System.nanoTime() < deadline) Thread.sleep(50);
                assertEquals(1, door.repeatedTerminalEvents(), "twice's second completed event");
            }
        }
    }
}
