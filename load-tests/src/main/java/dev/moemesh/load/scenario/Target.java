package dev.moemesh.load.scenario;

import dev.moemesh.load.door.Door;
import dev.moemesh.load.door.GrpcDoor;
import dev.moemesh.load.door.KafkaDoor;
import dev.moemesh.load.door.RestDoor;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Where the mesh under test listens: the router's REST root and gRPC address (or several routers', comma-separated,
 * which the clients take in turn), the Kafka bootstrap servers (with the door's topics and the orchestrator's consumer
 * group), the served model's name, and the HTTP roots of the services to watch (name → URL; their
 * {@code /q/metrics}).
 */
public record Target(String restBase, String grpcAddress, String kafkaBootstrap, String model, int vocabulary,
                     Map<String, String> services) {
    public static final String REQUESTS = "inference.requests";
    public static final String RESPONSES = "inference.responses";
    public static final String ORCHESTRATOR_GROUP = "moemesh-orchestrator";
    /** The Kafka door with {@code stream: false}: only the terminal event comes back, as most event producers ask. */
    public static final String KAFKA_UNSTREAMED = "kafka-unstreamed";

    public Target {
        services = Map.copyOf(services);
    }

    /**
     * A client of door {@code name} ({@code rest}, {@code grpc}, {@code kafka} or {@code kafka-unstreamed}); its
     * requests give up after {@code deadline}.
     */
    public Door door(String name, Duration deadline) {
        return door(name, deadline, false);
    }

    /**
     * As {@link #door(String, Duration)}; with {@code resume}, a REST or gRPC stream broken part-way goes on at the
     * next router ({@link RestDoor}, {@link GrpcDoor}).
     */
    public Door door(String name, Duration deadline, boolean resume) {
        return switch (name) {
            case "rest" -> new RestDoor(List.of(restBase.split(",")), model, deadline, resume);
            case "grpc" -> new GrpcDoor(List.of(grpcAddress.split(",")), model, deadline, resume);
            case "kafka" -> new KafkaDoor(kafkaBootstrap, REQUESTS, RESPONSES, true);
            case KAFKA_UNSTREAMED -> new KafkaDoor(kafkaBootstrap, REQUESTS, RESPONSES, false);
            default -> throw new IllegalArgumentException("no door '" + name + "': rest, grpc, kafka or " + KAFKA_UNSTREAMED);
        };
    }
}
