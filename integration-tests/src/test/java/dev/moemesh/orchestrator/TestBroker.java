package dev.moemesh.orchestrator;

import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real Apache Kafka broker the tests run against, picked once per JVM: a Testcontainers broker
 * ({@code apache/kafka}, the version the clients use) where a Docker engine is reachable, otherwise
 * {@link InProcessKafka}. {@code -Dmoemesh.test-broker=in-process|container} forces one.
 */
public final class TestBroker implements AutoCloseable {
    private static final String IMAGE = "apache/kafka:" + org.apache.kafka.common.utils.AppInfoParser.getVersion();
    private final AutoCloseable broker;
    private final String bootstrapServers;
    private final String kind;

    private TestBroker(AutoCloseable broker, String bootstrapServers, String kind) {
        this.broker = broker;
        this.bootstrapServers = bootstrapServers;
        this.kind = kind;
    }

    public static TestBroker start() {
        String forced = System.getProperty("moemesh.test-broker", "");
        boolean container = switch (forced) {
            case "container" -> true;
            case "in-process" -> false;
            case "" -> dockerReachable();
            default -> throw new IllegalArgumentException("moemesh.test-broker is '" + forced
                    + "'; use in-process or container");
        };
        TestBroker broker;
        if (container) {
            KafkaContainer kafka = new KafkaContainer(IMAGE);
            kafka.start();
            broker = new TestBroker(kafka, kafka.getBootstrapServers(), "Testcontainers " + IMAGE);
        } else {
            InProcessKafka kafka = InProcessKafka.start();
            broker = new TestBroker(kafka, kafka.bootstrapServers(), "in-process KRaft broker");
        }
        System.err.println("test broker: " + broker.kind + " at " + broker.bootstrapServers);
        return broker;
    }

    /**
     * Asks Testcontainers only where a Docker endpoint may exist (its search on a machine with none is slow and
     * logs errors).
     */
    private static boolean dockerReachable() {
        boolean endpoint = System.getenv("DOCKER_HOST") != null || Files.exists(Path.of("/var/run/docker.sock"))
                || Files.exists(Path.of(System.getProperty("user.home"), ".docker"));
        return endpoint && DockerClientFactory.instance().isDockerAvailable();
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** Which broker this is, for test logs. */
    public String kind() {
        return kind;
    }

    @Override
    public void close() throws Exception {
        broker.close();
    }
}
