package dev.moemesh.orchestrator;

import dev.moemesh.client.DoorMeters;
import dev.moemesh.orchestrator.ingest.FrontDoorOptions;
import dev.moemesh.orchestrator.ingest.KafkaClients;
import dev.moemesh.orchestrator.ingest.KafkaFrontDoor;
import dev.moemesh.orchestrator.ingest.Topics;
import dev.moemesh.tls.MeshChannels;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.common.annotation.Identifier;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs the {@link KafkaFrontDoor} for the application's lifetime and publishes its {@code moemesh_orchestrator_*}
 * metrics. The door starts in the background: while the broker cannot be reached (or the topics not made) it is
 * tried again with back-off and the rest of the orchestrator, the control plane, serves meanwhile. Ready once its
 * consumer runs; live unless its consumer thread stopped on a failure (a restart is then the way back).
 */
@ApplicationScoped
public class FrontDoorService {
    private static final Logger LOG = Logger.getLogger(FrontDoorService.class);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Duration MAX_RETRY = Duration.ofSeconds(30);

    private final OrchestratorSettings settings;
    private final Map<String, Object> kafkaSettings;
    private final MeterRegistry metrics;
    private final MeshChannels channels;
    private final CountDownLatch stopping = new CountDownLatch(1);
    private volatile KafkaFrontDoor door;
    private volatile String waitingFor = "starting";
    private Thread starter;

    /**
     * @param kafkaSettings every {@code kafka.*} setting (and {@code KAFKA_*} variable), the prefix cut, as Quarkus's
     *                      Kafka client extension collects them for any Kafka client of the application
     */
    FrontDoorService(OrchestratorSettings settings, @Identifier("default-kafka-broker") Map<String, Object> kafkaSettings,
                     MeterRegistry metrics, MeshChannels channels) {
        this.settings = settings;
        this.channels = channels;
        this.kafkaSettings = kafkaSettings;
        this.metrics = metrics;
    }

    /** A setting the door cannot work with stops the start here, with its reason; an absent broker does not. */
    void start(@Observes StartupEvent ignored) {
        var t = settings.topics();
        FrontDoorOptions options = new FrontDoorOptions(new KafkaClients(kafkaSettings), settings.groupId(),
                new Topics(t.requests(), t.responses(), t.dlq()), settings.attentionServices(), settings.maxInFlight(),
                settings.topicPartitions(), settings.modelDir(), settings.readBackTimeout(),
                settings.replyTopicPattern().map(FrontDoorService::replyTopicPattern));
        starter = Thread.ofPlatform().daemon().name("kafka-front-door-start").start(() -> startWithRetries(options));
    }

    private static Pattern replyTopicPattern(String regex) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("orchestrator.reply-topic-pattern is not a regular expression: "
                    + e.getMessage(), e);
        }
    }

    private void startWithRetries(FrontDoorOptions options) {
        Duration wait = FIRST_RETRY;
        for (int attempt = 1; stopping.getCount() > 0; attempt++) {
            try {
                KafkaFrontDoor d = KafkaFrontDoor.start(options, new DoorMeters(metrics),
                        settings.attentionRetry().policy(), channels);
                if (stopping.getCount() == 0) {
                    d.close();
                    return;
                }
                door = d;
                register(d);
                if (attempt > 1) LOG.infof("Kafka front door started at attempt %d", attempt);
                return;
            } catch (RuntimeException e) {
                waitingFor = "Kafka at " + options.kafka().bootstrapServers() + " not usable yet (attempt " + attempt + "): "
                        + e.getMessage();
                // the first failure and then every tenth, not one line per retry for as long as the broker is away
                if (attempt == 1 || attempt % 10 == 0) {
                    LOG.warnf("%s; trying again (every %d s at most), the control plane serves meanwhile", waitingFor,
                            MAX_RETRY.toSeconds());
                }
            }
            try {
                if (stopping.await(wait.toMillis(), TimeUnit.MILLISECONDS)) return;
            } catch (InterruptedException e) {
                return;
            }
            wait = wait.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : wait.multipliedBy(2);
        }
    }

    private void register(KafkaFrontDoor d) {
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

    void stop(@Observes ShutdownEvent ignored) throws InterruptedException {
        stopping.countDown();
        if (starter != null) starter.join(TimeUnit.SECONDS.toMillis(10));
        KafkaFrontDoor d = door;
        if (d != null) d.close();
    }

    /** Ready while the consumer runs. */
    @Produces
    @Readiness
    HealthCheck ready() {
        return () -> health(false);
    }

    /**
     * Live while the consumer runs and while the door is still starting: the control plane works without Kafka, and
     * a restart would not bring the broker back.
     */
    @Produces
    @Liveness
    HealthCheck live() {
        return () -> health(true);
    }

    private HealthCheckResponse health(boolean startingIsUp) {
        KafkaFrontDoor d = door;
        var b = HealthCheckResponse.named("kafka-front-door").status(d == null ? startingIsUp : d.running());
        if (d == null) {
            b.withData("starting", waitingFor);
        } else {
            d.failure().ifPresent(f -> b.withData("failure", f.getMessage()));
        }
        return b.build();
    }
}
