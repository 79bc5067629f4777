package dev.moemesh.orchestrator;

import dev.moemesh.client.DoorMeters;
import dev.moemesh.orchestrator.ingest.FrontDoorOptions;
import dev.moemesh.orchestrator.ingest.KafkaFrontDoor;
import dev.moemesh.orchestrator.ingest.Topics;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * Runs the {@link KafkaFrontDoor} for the application's lifetime and publishes its {@code moemesh_orchestrator_*}
 * metrics; live, and ready, while its consumer thread runs (it starts once the topics exist).
 */
@ApplicationScoped
@Liveness
@Readiness
public class FrontDoorService implements HealthCheck {
    private final OrchestratorSettings settings;
    private final MeterRegistry metrics;
    private volatile KafkaFrontDoor door;

    FrontDoorService(OrchestratorSettings settings, MeterRegistry metrics) {
        this.settings = settings;
        this.metrics = metrics;
    }

    void start(@Observes StartupEvent ignored) {
        var t = settings.topics();
        door = KafkaFrontDoor.start(new FrontDoorOptions(settings.bootstrapServers(), settings.groupId(),
                new Topics(t.requests(), t.responses(), t.dlq()), settings.attentionServices(), settings.maxInFlight(),
                settings.topicPartitions(), settings.modelDir(), settings.readBackTimeout()), new DoorMeters(metrics));
        KafkaFrontDoor d = door;
        Gauge.builder("moemesh.orchestrator.requests.running", d, x -> x.stats().running())
                .description("requests on attention services now").register(metrics);
        Gauge.builder("moemesh.orchestrator.consumer.paused", d, x -> x.stats().paused() ? 1 : 0)
                .description("1 while the consumer is paused because max-in-flight requests run or wait").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.terminal.events", d, x -> x.stats().terminalEvents())
                .description("terminal events acknowledged by the broker").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.dead.letters", d, x -> x.stats().deadLetters())
                .description("records sent to the dead-letter topic").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.duplicates", d, x -> x.stats().duplicates())
                .description("requests skipped: their id already had a terminal event").register(metrics);
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
