package dev.moemesh.orchestrator.ingest;

import dev.moemesh.client.AttentionCall;
import dev.moemesh.client.GenerationRetry;
import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatPrompt;
import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.orchestrator.api.ResponseEvents;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.errors.WakeupException;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Serves {@code inference.requests}: one consumer thread takes records, runs each request on an attention service
 * and commits a partition's offset only up to the first record whose terminal event (or dead letter) the broker has
 * not yet acknowledged. A request whose id already has a terminal event is skipped; at most
 * {@code maxInFlight} requests run at once, and while that many do the consumer is paused, so nothing is dropped.
 */
public final class KafkaFrontDoor implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(KafkaFrontDoor.class);
    /** Error code of a {@code prompt} sent to an orchestrator without a tokenizer. */
    public static final String NO_TOKENIZER = "no_tokenizer";
    /** Error code of a generation the attention service ended with finish reason {@code error}. */
    public static final String GENERATION_FAILED = "generation_failed";
    /** Error code of a call that failed in transport or on the service (gRPC status in the message). */
    public static final String ATTENTION_FAILED = "attention_failed";
    /** Error code of a request the attention service refused as it stands (e.g. a token outside the vocabulary). */
    public static final String REJECTED = "rejected";

    /** The first wait before a request refused for load is sent again; it doubles up to 50 ms * 2^4 = 0.8 s. */
    private static final long OVERLOAD_BACKOFF_MS = 50;
    private static final int OVERLOAD_BACKOFF_DOUBLINGS = 4;

    private final FrontDoorOptions options;
    private final RequestParser parser;
    private final Admin admin;
    /** Reply topics known to exist; the consumer thread's own. */
    private final Set<String> replyTopics = new HashSet<>();
    private final Optional<Tokenizer> tokenizer;
    private final AttentionPool pool;
    private final DoorMeters meters;
    private final CompletedIds completed;
    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Thread thread;
    // written by producer and gRPC threads, read by the consumer thread
    private final ConcurrentLinkedQueue<String> finishedIds = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Position> finishedDeadLetters = new ConcurrentLinkedQueue<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean closing;
    private final AtomicLong terminalEvents = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    // written by the consumer thread, read by anyone
    private volatile int runningNow;
    private volatile int peakRunning;
    private volatile boolean pausedNow;
    private volatile long pauses;
    private volatile long duplicates;
    // the consumer thread's own
    private final Map<TopicPartition, OffsetLedger> ledgers = new HashMap<>();
    private final ArrayDeque<Taken> waiting = new ArrayDeque<>();
    private final Map<String, List<Position>> running = new HashMap<>();
    private boolean paused;

    private record Position(TopicPartition partition, long offset) {}

    private record Taken(ConsumerRecord<byte[], byte[]> record, long takenNanos) {
        Position position() {
            return new Position(new TopicPartition(record.topic(), record.partition()), record.offset());
        }
    }

    private KafkaFrontDoor(FrontDoorOptions options, CompletedIds completed, DoorMeters meters, GenerationRetry retry,
                           MeshChannels channels) {
        this.options = options;
        this.completed = completed;
        this.meters = meters;
        this.parser = new RequestParser(options.replyTopicPattern());
        this.admin = Admin.create(options.kafka().admin());
        this.tokenizer = options.modelDir().flatMap(Tokenizer::load);
        this.pool = new AttentionPool(options.attentionServices(), "orchestrator.attention-services", retry,
                channels);
        this.producer = new KafkaProducer<>(options.kafka().producer());
        this.consumer = new KafkaConsumer<>(options.kafka().consumer(options.groupId(),
                Math.min(500, options.maxInFlight())));
        this.thread = new Thread(this::run, "kafka-front-door");
    }

    /**
     * Creates missing topics, reads the ids that already have terminal events, and starts consuming.
     */
    public static KafkaFrontDoor start(FrontDoorOptions options, DoorMeters meters) {
        return start(options, meters, GenerationRetry.DEFAULT);
    }

    /**
     * As {@link #start(FrontDoorOptions, DoorMeters)}, a generation the mesh failed running again under {@code retry}:
     * invisibly, since the token events it replays are not written twice (one per {@code (id, index)}).
     */
    public static KafkaFrontDoor start(FrontDoorOptions options, DoorMeters meters, GenerationRetry retry) {
        return start(options, meters, retry, MeshChannels.PLAINTEXT);
    }

    /** As {@link #start(FrontDoorOptions, DoorMeters, GenerationRetry)}, over {@code channels}: plaintext or mutual TLS. */
    public static KafkaFrontDoor start(FrontDoorOptions options, DoorMeters meters, GenerationRetry retry,
                                       MeshChannels channels) {
        List<String> eventTopics = new ArrayList<>(List.of(options.topics().responses()));
        try (Admin a = Admin.create(options.kafka().admin())) {
            options.topics().ensure(a, options.topicPartitions());
            options.replyTopicPattern().ifPresent(p -> eventTopics.addAll(Topics.matching(a, p).stream()
                    .filter(t -> !t.equals(options.topics().responses())).sorted().toList()));
        }
        long t0 = System.nanoTime();
        CompletedIds completed = CompletedIds.readBack(options.kafka(), eventTopics, options.readBackTimeout());
        LOG.infof("%d request ids already have terminal events on %s (read in %d ms)", completed.size(),
                eventTopics, (System.nanoTime() - t0) / 1_000_000);
        KafkaFrontDoor door = new KafkaFrontDoor(options, completed, meters, retry, channels);
        door.thread.start();
        return door;
    }

    /** False once the consumer thread has stopped, on close or on a failure ({@link #failure}). */
    public boolean running() {
        return thread.isAlive();
    }

    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    public FrontDoorStats stats() {
        return new FrontDoorStats(runningNow, peakRunning, pausedNow, pauses, terminalEvents.get(), deadLetters.get(),
                duplicates);
    }

    private void run() {
        try {
            consumer.subscribe(List.of(options.topics().requests()), new Rebalance());
            while (!closing) {
                Throwable f = failure.get();
                if (f != null) throw new IllegalStateException("stopped: " + f.getMessage(), f);
                settleFinished();
                startWaiting();
                commitFinished();
                pauseWhileFull();
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                    Taken t = new Taken(r, System.nanoTime());
                    ledger(t.position().partition()).take(r.offset());
                    waiting.add(t);
                }
            }
        } catch (WakeupException stopping) {
            // close() woke the poll
        } catch (RuntimeException e) {
            failure.compareAndSet(null, e);
            LOG.errorf(e, "the Kafka front door stopped; uncommitted requests will be served again after a restart");
        } finally {
            try {
                settleFinished();
                commitFinished();
            } catch (RuntimeException e) {
                LOG.warnf("last commit failed (%s); those requests will be seen again and skipped or served",
                        e.getMessage());
            }
            consumer.close();
        }
    }

    private OffsetLedger ledger(TopicPartition tp) {
        return ledgers.computeIfAbsent(tp, k -> new OffsetLedger());
    }

    /** Marks finished the records whose terminal event or dead letter the broker acknowledged. */
    private void settleFinished() {
        for (String id; (id = finishedIds.poll()) != null; ) {
            for (Position p : running.remove(id)) finish(p);
        }
        runningNow = running.size();
        for (Position p; (p = finishedDeadLetters.poll()) != null; ) finish(p);
    }

    private void finish(Position p) {
        OffsetLedger l = ledgers.get(p.partition());
        if (l != null) l.finish(p.offset()); // null: the partition was revoked meanwhile; its new owner sees it again
    }

    private void commitFinished() {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        ledgers.forEach((tp, l) -> {
            long position = l.commitPosition();
            if (position >= 0) offsets.put(tp, new OffsetAndMetadata(position));
        });
        if (offsets.isEmpty()) return;
        consumer.commitSync(offsets);
        offsets.forEach((tp, o) -> ledgers.get(tp).committed(o.offset()));
    }

    private void pauseWhileFull() {
        boolean full = running.size() + waiting.size() >= options.maxInFlight();
        if (full) {
            consumer.pause(consumer.assignment()); // again each time: a rebalance may have assigned new partitions
            if (!paused) pauses++;
        } else if (paused) {
            consumer.resume(consumer.paused());
        }
        paused = full;
        pausedNow = full;
    }

    private void startWaiting() {
        while (!waiting.isEmpty() && running.size() < options.maxInFlight()) {
            Taken t = waiting.poll();
            ConsumerRecord<byte[], byte[]> r = t.record();
            InferenceRequest request;
            try {
                request = parser.parse(r.key(), r.value());
            } catch (InvalidRequestException e) {
                deadLetter(t, e.getMessage());
                continue;
            }
            List<Position> same = running.get(request.id());
            if (same != null) {
                same.add(t.position()); // a duplicate of a request running now: finished with it
                duplicates++;
            } else if (completed.contains(request.id())) {
                finish(t.position());
                duplicates++;
            } else {
                Optional<String> refusal = request.replyTopic().flatMap(this::replyTopicRefusal);
                if (refusal.isPresent()) {
                    deadLetter(t, "request " + request.id() + ": reply_topic '" + request.replyTopic().get() + "' "
                            + refusal.get());
                    continue;
                }
                running.put(request.id(), new ArrayList<>(List.of(t.position())));
                serve(request, t.takenNanos());
            }
        }
        runningNow = running.size();
        peakRunning = Math.max(peakRunning, running.size());
    }

    /**
     * Why a reply topic (one the pattern allows) cannot take a request's events, if it cannot: it is the requests or
     * dead-letter topic, or it does not exist (asked of the broker once, then remembered). Any answer but "unknown
     * topic" stops the door: a restart serves the request again, where a dead letter would lose it.
     */
    private Optional<String> replyTopicRefusal(String topic) {
        if (topic.equals(options.topics().requests()) || topic.equals(options.topics().dlq())) {
            return Optional.of("is one of the orchestrator's input topics");
        }
        if (replyTopics.contains(topic)) return Optional.empty();
        try {
            admin.describeTopics(List.of(topic)).allTopicNames().get(15, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return Optional.of("does not exist; create it first (the orchestrator makes only its own topics)");
            }
            throw new IllegalStateException("cannot tell whether reply topic " + topic + " exists: "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("cannot tell whether reply topic " + topic + " exists: no answer in 15 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while looking up reply topic " + topic);
        }
        replyTopics.add(topic);
        return Optional.empty();
    }

    private void deadLetter(Taken t, String reason) {
        ConsumerRecord<byte[], byte[]> r = t.record();
        LOG.warnf("%s-%d@%d to %s: %s", r.topic(), r.partition(), r.offset(), options.topics().dlq(), reason);
        ProducerRecord<byte[], byte[]> dead = DeadLetters.of(r, options.topics().dlq(), reason);
        Position p = t.position();
        producer.send(dead, (meta, e) -> {
            if (e != null) {
                fail("dead letter of " + p + " not written", e);
            } else {
                deadLetters.incrementAndGet();
                finishedDeadLetters.add(p);
            }
        });
    }

    private void serve(InferenceRequest r, long takenNanos) {
        int[] prompt;
        if (r.promptTokenIds().isPresent()) {
            prompt = r.promptTokenIds().get();
        } else if (tokenizer.isEmpty()) {
            terminal(r, ResponseEvents.error(r.id(), NO_TOKENIZER, "request " + r.id() + " gives '"
                    + (r.prompt().isPresent() ? "prompt' as text" : "messages'") + ", but this orchestrator has no"
                    + " tokenizer (set orchestrator.model-dir); send 'prompt_token_ids'"));
            return;
        } else if (r.prompt().isPresent()) {
            prompt = tokenizer.get().encode(r.prompt().get(), true);
        } else {
            try {
                prompt = ChatPrompt.encode(tokenizer.get(), r.messages().orElseThrow());
            } catch (IllegalStateException | IllegalArgumentException e) {
                terminal(r, ResponseEvents.error(r.id(), REJECTED, "request " + r.id() + ": " + e.getMessage()
                        + (e instanceof IllegalStateException ? "; send 'prompt' or 'prompt_token_ids'" : "")));
                return;
            }
        }
        if (!r.stop().isEmpty() && tokenizer.isEmpty()) {
            terminal(r, ResponseEvents.error(r.id(), NO_TOKENIZER, "request " + r.id() + " gives 'stop' strings,"
                    + " but this orchestrator has no tokenizer to read the text (set orchestrator.model-dir); send"
                    + " 'stop_token_ids'"));
            return;
        }
        dispatch(r, generateRequest(r, prompt), takenNanos, System.nanoTime(), 0);
    }

    /**
     * Runs the request on an attention service. One refused for load ({@code RESOURCE_EXHAUSTED}: the service's queue
     * is full) is tried again after a back-off rather than answered: its record is held here meanwhile, within
     * {@code max-in-flight}, so past saturation the backlog waits in Kafka (the consumer pauses) and nothing is lost.
     */
    private void dispatch(InferenceRequest r, GenerateRequest request, long takenNanos, long startNanos, int refusals) {
        Optional<StopStrings> stops = r.stop().isEmpty() ? Optional.empty()
                : Optional.of(new StopStrings(tokenizer.orElseThrow(), r.stop()));
        AtomicReference<StopStrings.Match> stopped = new AtomicReference<>();
        AtomicReference<AttentionCall> call = new AtomicReference<>();
        AtomicLong firstTokenNanos = new AtomicLong();
        call.set(AttentionCall.start(pool, request, meters.observe("kafka", new GenerationListener() {
            @Override
            public void token(int index, int tokenId) {
                if (stopped.get() != null) return; // after the stop string: neither sent nor kept
                if (index == 0) firstTokenNanos.set(System.nanoTime());
                if (stops.isPresent()) {
                    Optional<StopStrings.Match> m = stops.get().add(tokenId);
                    if (m.isPresent()) {
                        stopped.set(m.get());
                        AttentionCall c = call.get();
                        if (c != null) c.cancel("stop string"); // else cancelled as soon as start returns
                    }
                }
                if (r.stream() && !closing) send(r, ResponseEvents.token(r.id(), index, tokenId));
            }

            @Override
            public void completed(Completion c, String attentionService) {
                StopStrings.Match m = stopped.get();
                if (m != null) { // the stop string came with the generation's last token, before the cancel
                    stoppedAt(m, request.getPromptTokenIdsCount(), attentionService, c.getPrefillNanos() / 1e6,
                            c.getDecodeNanos() / 1e6);
                    return;
                }
                FinishReason reason = GenerationWire.finishReason(c);
                if (reason == FinishReason.ERROR) {
                    terminal(r, ResponseEvents.error(r.id(), GENERATION_FAILED, "attention service "
                            + attentionService + ": " + c.getErrorMessage()));
                    return;
                }
                int[] ids = c.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                long now = System.nanoTime();
                var timings = new ResponseEvents.Timings(millis(startNanos - takenNanos), c.getPrefillNanos() / 1e6,
                        c.getDecodeNanos() / 1e6, millis(now - takenNanos));
                terminal(r, ResponseEvents.completed(r.id(), ids, tokenizer.map(tk -> tk.decode(ids, true)),
                        reason.wireName(), c.getPromptTokens(), attentionService, timings));
            }

            @Override
            public void failed(Status status, String message) {
                StopStrings.Match m = stopped.get();
                if (m != null) {
                    // cancelled here at the stop string (CANCELLED), or broken off after it: the generation is whole;
                    // the door measured its times itself
                    long first = firstTokenNanos.get();
                    AttentionCall c = call.get();
                    stoppedAt(m, request.getPromptTokenIdsCount(), c == null ? "" : c.attentionService(),
                            millis(first - startNanos), millis(System.nanoTime() - first));
                    return;
                }
                if (DoorAdmission.isOverload(status) && !closing) {
                    pool.retryLater(() -> dispatch(r, request, takenNanos, startNanos, refusals + 1),
                            OVERLOAD_BACKOFF_MS * (1L << Math.min(refusals, OVERLOAD_BACKOFF_DOUBLINGS)));
                    return;
                }
                boolean refused = status.getCode() == Status.Code.INVALID_ARGUMENT
                        || status.getCode() == Status.Code.FAILED_PRECONDITION;
                terminal(r, ResponseEvents.error(r.id(), refused ? REJECTED : ATTENTION_FAILED, message));
            }

            private void stoppedAt(StopStrings.Match m, int promptTokens, String attentionService, double prefillMs,
                                   double decodeMs) {
                var timings = new ResponseEvents.Timings(millis(startNanos - takenNanos), prefillMs, decodeMs,
                        millis(System.nanoTime() - takenNanos));
                terminal(r, ResponseEvents.completed(r.id(), m.tokenIds(), Optional.of(m.text()),
                        FinishReason.STOP.wireName(), promptTokens, attentionService, timings));
            }
        })));
        if (stopped.get() != null) call.get().cancel("stop string");
    }

    private static GenerateRequest generateRequest(InferenceRequest r, int[] promptIds) {
        return GenerationWire.request(r.id(), promptIds, new SamplingParams(r.maxTokens(), r.temperature(), r.topK(),
                r.topP(), r.seed(), r.stopTokenIds(), r.ignoreEos()));
    }

    private static double millis(long nanos) {
        return nanos / 1e6;
    }

    /** The topic of a request's events: its {@code reply_topic}, else {@code inference.responses}. */
    private String eventsTopic(InferenceRequest r) {
        return r.replyTopic().orElse(options.topics().responses());
    }

    private void send(InferenceRequest r, byte[] value) {
        String id = r.id();
        producer.send(new ProducerRecord<>(eventsTopic(r), key(id), value), (meta, e) -> {
            if (e != null) fail("event of request " + id + " not written", e);
        });
    }

    /** Writes the one terminal event of {@code r}; once acknowledged, the id is completed and its records finished. */
    private void terminal(InferenceRequest r, byte[] value) {
        if (closing) return; // abandoned: not committed, so served again after the restart
        String id = r.id();
        producer.send(new ProducerRecord<>(eventsTopic(r), key(id), value), (meta, e) -> {
            if (e != null) {
                fail("terminal event of request " + id + " not written", e);
            } else {
                completed.add(id);
                terminalEvents.incrementAndGet();
                finishedIds.add(id);
            }
        });
    }

    private static byte[] key(String id) {
        return id.getBytes(StandardCharsets.UTF_8);
    }

    private void fail(String what, Exception e) {
        failure.compareAndSet(null, new IllegalStateException(what + ": " + e.getMessage(), e));
    }

    /** Commits what is finished on partitions taken away, and forgets them (their new owner reads the rest). */
    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            settleFinished();
            commitFinished();
            for (TopicPartition tp : partitions) ledgers.remove(tp);
            waiting.removeIf(t -> partitions.contains(t.position().partition()));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (paused) consumer.pause(partitions);
        }
    }

    /**
     * Stops taking requests and abandons those running: their offsets stay uncommitted, so the next start serves
     * them (or skips those whose terminal event got out meanwhile).
     */
    @Override
    public void close() {
        closing = true;
        consumer.wakeup();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.close();
        producer.close(Duration.ofSeconds(10));
        admin.close(Duration.ofSeconds(5));
        tokenizer.ifPresent(Tokenizer::close);
    }
}
