package dev.moemesh.localmesh;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Uuid;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The local single-node Kafka broker's set-up: its {@code server.properties} (KRaft, broker and controller in one
 * process, internal topics with one replica), the storage-format and server commands from Apache Kafka's own jars,
 * and the readiness probe.
 */
final class KafkaBroker {
    private KafkaBroker() {}

    /** Writes {@code dataDir/server.properties} for a broker on {@code port}, emptying the old log directory. */
    static Path configure(Path dataDir, int port, int controllerPort) {
        Path logDir = dataDir.resolve("data");
        try {
            if (Files.exists(logDir)) {
                try (Stream<Path> old = Files.walk(logDir)) {
                    for (Path p : old.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
                }
            }
            Files.createDirectories(logDir);
            Path properties = dataDir.resolve("server.properties");
            Files.writeString(properties, String.join("\n",
                    "process.roles=broker,controller",
                    "node.id=1",
                    "listeners=PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort,
                    "advertised.listeners=PLAINTEXT://localhost:" + port,
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "controller.quorum.bootstrap.servers=localhost:" + controllerPort,
                    "log.dirs=" + logDir.toAbsolutePath(),
                    // one broker: the internal topics cannot have the default three replicas
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    // a group's first member gets its partitions at once, not after the default 3 s wait
                    "group.initial.rebalance.delay.ms=0",
                    ""));
            // the broker's own lines, INFO and up, to its standard output (the service log LocalMesh keeps)
            Files.writeString(dataDir.resolve("log4j2.properties"), String.join("\n",
                    "appender.out.type=Console",
                    "appender.out.name=out",
                    "appender.out.layout.type=PatternLayout",
                    "appender.out.layout.pattern=%d{HH:mm:ss.SSS} %-5p [%c{1}] %m%n",
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRef.out.ref=out",
                    "logger.state.name=state.change.logger",
                    "logger.state.level=WARN",
                    ""));
            return properties;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the Kafka directory " + dataDir + ": " + e.getMessage(), e);
        }
    }

    /** Kafka's storage tool formatting the log directory as a one-voter KRaft cluster with a fresh cluster id. */
    static List<String> formatCommand(Path properties) {
        return List.of("kafka.tools.StorageTool", "format", "--standalone", "-t", Uuid.randomUuid().toString(),
                "-c", properties.toAbsolutePath().toString());
    }

    /** The JVM option that gives the broker's processes the logging set-up written beside {@code properties}. */
    static String loggingOption(Path properties) {
        return "-Dlog4j2.configurationFile=" + properties.resolveSibling("log4j2.properties").toAbsolutePath();
    }

    static List<String> serverCommand(Path properties) {
        return List.of("kafka.Kafka", properties.toAbsolutePath().toString());
    }

    /** Returns when the broker at {@code bootstrapServers} answers a metadata request; throws while it does not. */
    static void probe(String bootstrapServers) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 2000))) {
            admin.describeCluster(new DescribeClusterOptions().timeoutMs(2000)).nodes().get(3, TimeUnit.SECONDS);
        }
    }
}
