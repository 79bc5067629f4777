package dev.moemesh.orchestrator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** The {@code orchestrator.*} settings ({@code docs/operations.md} has the table). */
@ConfigMapping(prefix = "orchestrator")
public interface OrchestratorSettings {
    @WithDefault("localhost:9092")
    String bootstrapServers();

    @WithDefault("moemesh-orchestrator")
    String groupId();

    List<String> attentionServices();

    @WithDefault("256")
    int maxInFlight();

    @WithDefault("3")
    int topicPartitions();

    Optional<Path> modelDir();

    @WithDefault("2M")
    Duration readBackTimeout();

    Topics topics();

    /** Topic names; the defaults are the contract's. */
    interface Topics {
        @WithDefault("inference.requests")
        String requests();

        @WithDefault("inference.responses")
        String responses();

        @WithDefault("inference.dlq")
        String dlq();
    }
}
