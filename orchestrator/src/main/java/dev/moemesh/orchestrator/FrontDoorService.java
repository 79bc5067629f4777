package dev.moemesh.orchestrator;

import dev.moemesh.orchestrator.ingest.FrontDoorOptions;
import dev.moemesh.orchestrator.ingest.KafkaFrontDoor;
import dev.moemesh.orchestrator.ingest.Topics;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

/** Runs the {@link KafkaFrontDoor} for the application's lifetime; live while its consumer thread runs. */
@ApplicationScoped
@Liveness
public class FrontDoorService implements HealthCheck {
    private final OrchestratorSettings settings;
    private volatile KafkaFrontDoor door;

    FrontDoorService(OrchestratorSettings settings) {
        this.settings = settings;
    }

    void start(@Observes StartupEvent ignored) {
        var t = settings.topics();
        door = KafkaFrontDoor.start(new FrontDoorOptions(settings.bootstrapServers(), settings.groupId(),
                new Topics(t.requests(), t.responses(), t.dlq()), settings.attentionServices(), settings.maxInFlight(),
                settings.topicPartitions(), settings.modelDir(), settings.readBackTimeout()));
    }

    void stop(@Observes ShutdownEvent ignored) {
        if (door != null) door.close();
    }

    @Override
    public HealthCheckResponse call() {
        KafkaFrontDoor d = door;
        var b = HealthCheckResponse.named("kafka-front-door").status(d != null && d.running());
        if (d != null) d.failure().ifPresent(f -> b.withData("failure", f.getMessage()));
        return b.build();
    }
}
