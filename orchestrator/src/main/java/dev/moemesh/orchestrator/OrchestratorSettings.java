package dev.moemesh.orchestrator;

import dev.moemesh.client.GenerationRetry;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The {@code orchestrator.*} settings ({@code docs/operations.md} has the table; {@code docs/control-plane.md} the
 * control plane's).
 */
@ConfigMapping(prefix = "orchestrator")
public interface OrchestratorSettings {
    /**
     * The older name of {@code kafka.bootstrap.servers}, which takes its value unless set itself; the Kafka clients
     * read every {@code kafka.*} setting ({@code FrontDoorService}).
     */
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

    /**
     * A regular expression the whole {@code reply_topic} of a request must match (e.g. {@code replies\\..+}); unset:
     * requests may not name one. The orchestrator does not create reply topics.
     */
    Optional<String> replyTopicPattern();

    Topics topics();

    /** How a generation the mesh failed runs again on another attention service. */
    AttentionRetry attentionRetry();

    ControlPlaneSettings controlPlane();

    /** Topic names; the defaults are the contract's. */
    interface Topics {
        @WithDefault("inference.requests")
        String requests();

        @WithDefault("inference.responses")
        String responses();

        @WithDefault("inference.dlq")
        String dlq();
    }

    /** {@code attention-retry.*}: the bounds of {@code GenerationRetry} ({@code docs/operations.md}). */
    interface AttentionRetry {
        /** Runs after the first; 0: never again. */
        @WithDefault("6")
        int maxRetries();

        @WithDefault("100ms")
        Duration firstBackoff();

        @WithDefault("2s")
        Duration longestBackoff();

        /** No run starts this long after the first one started. */
        @WithDefault("10M")
        Duration deadline();

        default GenerationRetry policy() {
            return new GenerationRetry(maxRetries(), firstBackoff(), longestBackoff(), deadline());
        }
    }

    /** The control plane's knobs ({@code docs/control-plane.md} has the table). */
    interface ControlPlaneSettings {
        @WithDefault("2s")
        Duration heartbeatInterval();

        @WithDefault("3")
        int missedHeartbeats();

        @WithDefault("60s")
        Duration rebalanceInterval();

        @WithDefault("0.05")
        double minImprovement();

        /**
         * Replicas every expert gets (as far as slots and instances allow), before the redundant ones: 2, so one
         * expert service that dies leaves every expert served.
         */
        @WithDefault("2")
        int minReplicas();

        @WithDefault("0")
        int redundantReplicas();

        @WithDefault("0.05")
        double moveTolerance();

        @WithDefault("5M")
        Duration loadHalfLife();

        @WithDefault("10M")
        Duration expertLoadTimeout();

        @WithDefault("30s")
        Duration unloadGrace();

        @WithDefault("16")
        int expertGroupSize();

        /**
         * How long after start the first placement waits while the registered expert services do not yet hold
         * every expert between them; 0 (the default): it does not wait.
         */
        @WithDefault("0s")
        Duration settleTime();

        /**
         * Who leads the control plane: {@code always}, this orchestrator (the one the members name); or {@code kafka},
         * one of several orchestrators the members name, comma-separated: the one that holds the one partition of
         * {@link #electionTopic} in the consumer group {@code <orchestrator.group-id>.control-plane}. The others
         * stand by, refusing every call, until the leader stops or misses its session.
         */
        @WithDefault("always")
        Election election();

        /** The election's topic (one partition, no records), created when missing. */
        @WithDefault("moemesh.control-plane")
        String electionTopic();
    }

    /** {@code orchestrator.control-plane.election}. */
    enum Election { ALWAYS, KAFKA }
}
