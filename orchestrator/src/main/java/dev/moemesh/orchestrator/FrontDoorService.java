package dev.moemesh.orchestrator;

import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.orchestrator.ingest.CompletedIds;
import dev.moemesh.orchestrator.ingest.FrontDoorOptions;
import dev.moemesh.orchestrator.ingest.KafkaClients;
import dev.moemesh.orchestrator.ingest.KafkaFrontDoor;
import dev.moemesh.orchestrator.ingest.Topics;
import dev.moemesh.tls.MeshChannels;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.trace.Tracer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import org.apache.kafka.clients.admin.Admin;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.Outgoing;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The Kafka door as a messaging application: requests come in on channel {@value #REQUESTS}
 * ({@code inference.requests}) and their events go out on {@value #EVENTS} ({@code inference.responses}, or a
 * request's {@code reply_topic}), both through SmallRye Reactive Messaging's Kafka connector
 * ({@code mp.messaging.*} in application.properties: throttled commits, the dead-letter queue, pausing while full).
 * Before the first request is taken the door makes its topics and reads back the ids that already have terminal
 * events; while the broker cannot be reached that is tried again with back-off and the rest of the orchestrator, the
 * control plane, serves meanwhile. At most {@code orchestrator.max-in-flight} requests run at once; the rest wait in
 * Kafka. Ready once the door serves; live unless a write failed (a restart is then the way back).
 */
@ApplicationScoped
public class FrontDoorService {
    static final String REQUESTS = "inference-requests";
    static final String EVENTS = "inference-responses";
    private static final Logger LOG = Logger.getLogger(FrontDoorService.class);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Duration MAX_RETRY = Duration.ofSeconds(30);

    private final OrchestratorSettings settings;
    private final Map<String, Object> kafkaSettings;
    private final MeterRegistry metrics;
    private final MeshChannels channels;
    private final Tracer tracer;
    /** Takes the records one after another (parsing, duplicate checks, starting their calls); ends with the process. */
    private final ExecutorService taker = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("kafka-front-door").factory());
    private FrontDoorOptions options;
    private volatile KafkaFrontDoor door;
    private volatile boolean stopping;
    private volatile String waitingFor = "starting";

    /**
     * @param kafkaSettings every {@code kafka.*} setting (and {@code KAFKA_*} variable), the prefix cut, as Quarkus's
     *                      Kafka extension collects them for every Kafka client of the application, the connector's
     *                      channels included
     */
    FrontDoorService(OrchestratorSettings settings, @Identifier("default-kafka-broker") Map<String, Object> kafkaSettings,
                     MeterRegistry metrics, MeshChannels channels, Tracer tracer) {
        this.settings = settings;
        this.tracer = tracer;
        this.channels = channels;
        this.kafkaSettings = kafkaSettings;
        this.metrics = metrics;
    }

    /** A setting the door cannot work with stops the start here, with its reason; an absent broker does not. */
    void start(@Observes StartupEvent ignored) {
        options();
    }

    private synchronized FrontDoorOptions options() {
        if (options == null) {
            var t = settings.topics();
            options = new FrontDoorOptions(new KafkaClients(kafkaSettings),
                    new Topics(t.requests(), t.responses(), t.dlq()), settings.attentionServices(),
                    settings.maxInFlight(), settings.topicPartitions(), settings.modelDir(),
                    settings.readBackTimeout(), settings.replyTopicPattern().map(FrontDoorService::replyTopicPattern));
        }
        return options;
    }

    private static Pattern replyTopicPattern(String regex) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("orchestrator.reply-topic-pattern is not a regular expression: "
                    + e.getMessage(), e);
        }
    }

    /**
     * The door: each request record becomes the stream of its events, up to {@code max-in-flight} at once (the
     * connector takes no more from Kafka than that and its queue hold). Nothing is taken before the door is open.
     */
    @Incoming(REQUESTS)
    @Outgoing(EVENTS)
    public Multi<Message<byte[]>> serve(Multi<Message<byte[]>> requests) {
        return opened().onItem().transformToMulti(d -> requests.emitOn(taker)
                .onItem().transformToMulti(d::serve).merge(options().maxInFlight()));
    }

    /** Opens the door once the topics exist and the terminal events are read back, trying again with back-off. */
    private Uni<KafkaFrontDoor> opened() {
        AtomicInteger attempts = new AtomicInteger();
        return Uni.createFrom().item(() -> open(attempts.get()))
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                .onFailure(e -> !stopping && !(e instanceof IllegalArgumentException)).invoke(e -> {
                    int attempt = attempts.incrementAndGet();
                    waitingFor = "Kafka at " + options().kafka().bootstrapServers() + " not usable yet (attempt "
                            + attempt + "): " + e.getMessage();
                    // the first failure and then every tenth, not one line per retry for as long as the broker is away
                    if (attempt == 1 || attempt % 10 == 0) {
                        LOG.warnf("%s; trying again (every %d s at most), the control plane serves meanwhile",
                                waitingFor, MAX_RETRY.toSeconds());
                    }
                })
                .onFailure(e -> !stopping && !(e instanceof IllegalArgumentException)).retry()
                .withBackOff(FIRST_RETRY, MAX_RETRY).indefinitely();
    }

    private KafkaFrontDoor open(int failedAttempts) {
        FrontDoorOptions o = options();
        List<String> eventTopics = new ArrayList<>(List.of(o.topics().responses()));
        Admin admin = Admin.create(o.kafka().admin());
        try {
            o.topics().ensure(admin, o.topicPartitions());
            o.replyTopicPattern().ifPresent(p -> eventTopics.addAll(Topics.matching(admin, p).stream()
                    .filter(t -> !t.equals(o.topics().responses())).sorted().toList()));
            long t0 = System.nanoTime();
            CompletedIds completed = CompletedIds.readBack(o.kafka(), eventTopics, o.readBackTimeout());
            LOG.infof("%d request ids already have terminal events on %s (read in %d ms)", completed.size(),
                    eventTopics, (System.nanoTime() - t0) / 1_000_000);
            KafkaFrontDoor d = new KafkaFrontDoor(o, completed, admin, new AttentionPool(o.attentionServices(),
                    "orchestrator.attention-services", settings.attentionRetry().policy(), channels),
                    new DoorMeters(metrics), tracer);
            register(d);
            door = d;
            if (failedAttempts > 0) LOG.infof("Kafka front door open at attempt %d", failedAttempts + 1);
            return d;
        } catch (RuntimeException e) {
            admin.close(Duration.ofSeconds(5));
            throw e;
        }
    }

    private void register(KafkaFrontDoor d) {
        Gauge.builder("moemesh.orchestrator.requests.running", d, x -> x.stats().running())
                .description("requests on attention services now").register(metrics);
        Gauge.builder("moemesh.orchestrator.requests.running.peak", d, x -> x.stats().peakRunning())
                .description("the most requests that ran at once since the start (at most max-in-flight)")
                .register(metrics);
        Gauge.builder("moemesh.orchestrator.consumer.paused", d, x -> x.stats().full() ? 1 : 0)
                .description("1 while max-in-flight requests run, so that the next wait in Kafka").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.in.flight.full", d, x -> x.stats().fullTimes())
                .description("times max-in-flight requests ran at once").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.terminal.events", d, x -> x.stats().terminalEvents())
                .description("terminal events acknowledged by the broker").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.dead.letters", d, x -> x.stats().deadLetters())
                .description("records sent to the dead-letter topic").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.requests.left", d, x -> x.stats().left())
                .description("running requests abandoned to another orchestrator of the group when their partition"
                        + " moved to it").register(metrics);
        FunctionCounter.builder("moemesh.orchestrator.duplicates", d, x -> x.stats().duplicates())
                .description("requests skipped: their id already had a terminal event").register(metrics);
    }

    /** The door, once open. */
    Optional<KafkaFrontDoor> door() {
        return Optional.ofNullable(door);
    }

    /** Abandons the requests running: unacknowledged, they are served again after the restart (or skipped). */
    void stop(@Observes ShutdownEvent ignored) {
        stopping = true;
        KafkaFrontDoor d = door;
        if (d != null) d.close(); // the taker, a daemon thread, stays: the channel may still ask it for records
    }

    /** Ready while the door serves. */
    @Produces
    @Readiness
    HealthCheck ready() {
        return () -> health(false);
    }

    /**
     * Live while the door serves and while it is still opening: the control plane works without Kafka, and a restart
     * would not bring the broker back.
     */
    @Produces
    @Liveness
    HealthCheck live() {
        return () -> health(true);
    }

    private HealthCheckResponse health(boolean openingIsUp) {
        KafkaFrontDoor d = door;
        var b = HealthCheckResponse.named("kafka-front-door");
        if (d == null) return b.status(openingIsUp).withData("starting", waitingFor).build();
        d.failure().ifPresent(f -> b.withData("failure", f.getMessage()));
        return b.status(d.failure().isEmpty()).build();
    }
}
