package dev.moemesh.orchestrator;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.restassured.RestAssured;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged application, a process: its settings start the front door, which serves the contract's default
 * topics, and the control plane, which serves ControlPlane on its gRPC port.
 */
class OrchestratorApplicationTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static OrchestratorProcess app;
    private static String bootstrapServers;
    private static ManagedChannel channel;
    private static ControlPlaneGrpc.ControlPlaneBlockingStub control;

    @BeforeAll
    static void start() {
        app = OrchestratorProcess.start();
        bootstrapServers = app.kafka.bootstrapServers();
        channel = NettyChannelBuilder.forTarget("localhost:" + app.controlPort).usePlaintext().build();
        control = ControlPlaneGrpc.newBlockingStub(channel);
        RestAssured.port = app.orchestrator.httpPort();
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (app != null) app.close();
    }

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

    @Test
    void servesTheControlPlaneAndItsMetrics() throws InterruptedException {
        var watch = control.withDeadlineAfter(60, TimeUnit.SECONDS).watchPlacement(WatchPlacementRequest.newBuilder()
                .setInstanceId("attention-app").setModelFingerprint("44b7659eb99199fa").build());
        assertEquals(0, watch.next().getVersion(), "no placement before an expert service registers");
        var answer = control.register(RegisterRequest.newBuilder().setInstanceId("attention-app")
                .setRole(Role.ROLE_ATTENTION).setAddress("localhost:9200").setModelFingerprint("44b7659eb99199fa")
                .build());
        assertEquals(2000, answer.getHeartbeatIntervalMs(), "orchestrator.control-plane.heartbeat-interval");
        // an expert service that holds layer 1's experts 0-3 gets them placed where they are: no LoadExperts call
        RegisterRequest.Builder experts = RegisterRequest.newBuilder().setInstanceId("experts-app")
                .setRole(Role.ROLE_EXPERT).setAddress("localhost:1").setModelFingerprint("44b7659eb99199fa");
        for (int e = 0; e < 4; e++) experts.addHeld(LayerExpert.newBuilder().setLayer(1).setExpert(e));
        control.register(experts.build());
        var placed = watch.next();
        assertEquals(4, placed.getExpertsCount());
        awaitMetrics("moemesh_control_plane_instances{role=\"attention\",state=\"live\"} 1.0",
                "moemesh_control_plane_instances{role=\"expert\",state=\"live\"} 1.0",
                "moemesh_control_plane_placement_version ",
                "moemesh_control_plane_placement_imbalance 1.0",
                "moemesh_control_plane_instance_planned_load{instance=\"experts-app\"} 1.0",
                "moemesh_control_plane_expert_group_desired_replicas{group=\"0-15\"} 1.0",
                "moemesh_control_plane_expert_group_load_share{group=\"0-15\"} 1.0");
    }

    /** Metrics of a placement follow its publication to watchers closely, not at once: waits for them. */
    private static void awaitMetrics(String... lines) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
            var missing = Arrays.stream(lines).filter(l -> !metrics.contains(l)).toList();
            if (missing.isEmpty()) return;
            if (System.nanoTime() > deadline) throw new AssertionError("/q/metrics lacks " + missing);
            Thread.sleep(100);
        }
    }
}
