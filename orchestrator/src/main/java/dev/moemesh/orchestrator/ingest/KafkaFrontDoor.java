package dev.moemesh.orchestrator.ingest;

import dev.moemesh.client.AttentionCall;
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
import dev.moemesh.proto.TokenEvent;
import dev.moemesh.proto.TokenLogprobs;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.smallrye.reactive.messaging.TracingMetadata;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.smallrye.reactive.messaging.kafka.api.IncomingKafkaRecordMetadata;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.Metadata;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the Kafka door does with one record of {@code inference.requests}, as the messaging connector hands it over
 * ({@code FrontDoorService} wires the channels): parse it, skip it if its id already has a terminal event, run it on
 * an attention service, and turn its run into the events to write, the terminal one last. The record is acknowledged
 * (and so, by the connector's {@code throttled} strategy, committed once every record before it is) only when the
 * broker acknowledged its terminal event; a record that cannot be served is nacked with its reason, which sends it to
 * the dead-letter topic. A write that fails stops the door ({@link #failure}): the records it leaves unacknowledged are
 * served again after a restart, or skipped if their terminal event got out.
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
    /** How long a revocation waits for terminal events being written (a broker's acknowledgement takes milliseconds). */
    private static final Duration REVOKE_WRITE_WAIT = Duration.ofSeconds(10);

    private final FrontDoorOptions options;
    private final RequestParser parser;
    private final Admin admin;
    private final Set<String> replyTopics = ConcurrentHashMap.newKeySet(); // known to exist
    private final Optional<Tokenizer> tokenizer;
    private final AttentionPool pool;
    private final DoorMeters meters;
    private final Tracer tracer;
    private final CompletedIds completed;
    /** The requests running now, by id. */
    private final Map<String, Events> running = new ConcurrentHashMap<>();
    /** The partitions of the requests topic this door owns now (its consumer's assignment). */
    private final Set<TopicPartition> assigned = ConcurrentHashMap.newKeySet();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean closing;
    private final AtomicLong terminalEvents = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicInteger peakRunning = new AtomicInteger();
    private final AtomicLong fullTimes = new AtomicLong();
    private final AtomicLong left = new AtomicLong();

    /**
     * @param completed the ids that already have terminal events (read back from the events topics at start)
     * @param admin     asks whether a {@code reply_topic} exists; closed with the door
     * @param pool      the attention services; closed with the door
     * @param tracer    makes each traced request's span (docs/operations.md, Tracing)
     */
    public KafkaFrontDoor(FrontDoorOptions options, CompletedIds completed, Admin admin, AttentionPool pool,
                          DoorMeters meters, Tracer tracer) {
        this.options = options;
        this.tracer = tracer;
        this.completed = completed;
        this.admin = admin;
        this.pool = pool;
        this.meters = meters;
        this.parser = new RequestParser(options.replyTopicPattern());
        this.tokenizer = options.modelDir().flatMap(Tokenizer::load);
    }

    /** Set once a write failed: the door serves nothing more, and its liveness says why. */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    public FrontDoorStats stats() {
        return new FrontDoorStats(running.size(), peakRunning.get(), running.size() >= options.maxInFlight(),
                fullTimes.get(), terminalEvents.get(), deadLetters.get(), duplicates.get(), left.get());
    }

    /**
     * The events of one request record, its terminal event last, or none: for a duplicate (acknowledged once the
     * request it repeats is finished, or at once if that one already is), for a record that cannot be served (sent to
     * the dead-letter topic), or once the door has stopped (left unacknowledged, so served again after a restart).
     */
    public Multi<Message<byte[]>> serve(Message<byte[]> record) {
        if (closing || failure.get() != null) return Multi.createFrom().empty();
        try {
            return serveOrThrow(record);
        } catch (RuntimeException e) { // a fault of the door's own, not of the request: stop, lose nothing
            fail("request record " + position(record) + " not handled", e);
            return Multi.createFrom().empty();
        }
    }

    private Multi<Message<byte[]>> serveOrThrow(Message<byte[]> record) {
        IncomingKafkaRecordMetadata<?, ?> meta = record.getMetadata(IncomingKafkaRecordMetadata.class).orElseThrow();
        TopicPartition partition = new TopicPartition(meta.getTopic(), meta.getPartition());
        if (!assigned.contains(partition)) return Multi.createFrom().empty(); // taken away meanwhile: its new owner's
        byte[] key = (byte[]) meta.getKey();
        InferenceRequest request;
        try {
            request = parser.parse(key, record.getPayload());
        } catch (InvalidRequestException e) {
            return deadLetter(record, e);
        }
        String id = request.id();
        boolean[] same = {false};
        running.computeIfPresent(id, (k, events) -> {
            events.duplicate(record); // a duplicate of a request running now: finished with it
            same[0] = true;
            return events;
        });
        if (same[0] || completed.contains(id)) { // completed is added to before running is left
            duplicates.incrementAndGet();
            if (!same[0]) record.ack();
            return Multi.createFrom().empty();
        }
        Optional<String> refusal = request.replyTopic().flatMap(this::replyTopicRefusal);
        if (refusal.isPresent()) {
            return deadLetter(record, new InvalidRequestException("request " + id + ": reply_topic '"
                    + request.replyTopic().get() + "' " + refusal.get()));
        }
        Events events = new Events(request, record, partition);
        running.put(id, events);
        int now = running.size();
        peakRunning.accumulateAndGet(now, Math::max);
        if (now == options.maxInFlight()) fullTimes.incrementAndGet();
        return events.stream();
    }

    private static String position(Message<byte[]> record) {
        return record.getMetadata(IncomingKafkaRecordMetadata.class)
                .map(m -> m.getTopic() + "-" + m.getPartition() + "@" + m.getOffset()).orElse("?");
    }

    private Multi<Message<byte[]>> deadLetter(Message<byte[]> record, InvalidRequestException reason) {
        LOG.warnf("%s to %s: %s", position(record), options.topics().dlq(), reason.getMessage());
        record.nack(reason).whenComplete((ok, e) -> {
            if (e != null) {
                fail("dead letter of " + position(record) + " not written", e);
            } else {
                deadLetters.incrementAndGet();
            }
        });
        return Multi.createFrom().empty();
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

    /**
     * One request running: its records (its own and those of duplicates taken meanwhile), its call, and its events as
     * messages to the events topic, keyed by its id. Its partition may be taken away (revoked) while it runs: it is
     * then abandoned, unless its terminal event is being written, which the revocation waits for.
     */
    private final class Events {
        private final InferenceRequest request;
        private final TopicPartition partition;
        private final List<Message<byte[]>> records = new ArrayList<>(); // guarded by itself
        private final Metadata metadata;
        /** Its span's context, current while its call starts; the root where its record carries no trace. */
        private final Context trace;
        private final long takenNanos = System.nanoTime();
        private volatile MultiEmitter<? super Message<byte[]>> out;
        private volatile AttentionCall call;
        private volatile boolean abandoned; // written under this
        private boolean writing;   // guarded by this: the terminal event is out, not yet acknowledged

        Events(InferenceRequest request, Message<byte[]> record, TopicPartition partition) {
            this.request = request;
            this.partition = partition;
            this.records.add(record);
            this.trace = requestSpan(request, record);
            var outgoing = OutgoingKafkaRecordMetadata.<byte[]>builder()
                    .withKey(request.id().getBytes(StandardCharsets.UTF_8))
                    .withTopic(request.replyTopic().orElse(options.topics().responses())).build();
            // the connector writes the traceparent of this context (its publish span, a child of it) on each event
            this.metadata = trace == Context.root() ? Metadata.of(outgoing)
                    : Metadata.of(outgoing, TracingMetadata.withCurrent(trace));
        }

        /** The stream of its events: subscribed, it starts the request. */
        Multi<Message<byte[]>> stream() {
            // every token event of the request fits the buffer: a slow broker never makes the stream fail
            return Multi.createFrom().<Message<byte[]>>emitter(emitter -> {
                out = emitter;
                synchronized (this) {
                    if (abandoned) {
                        emitter.complete();
                        return;
                    }
                }
                serve(request, this);
            }, request.maxTokens() + 2).onTermination().invoke(() -> Span.fromContext(trace).end());
        }

        void duplicate(Message<byte[]> record) {
            synchronized (records) {
                records.add(record);
            }
        }

        void token(int index, int tokenId, Optional<TokenLogprobs> logprobs) {
            if (closing || abandoned) return;
            out.emit(Message.of(ResponseEvents.token(request.id(), index, tokenId, logprobs), metadata,
                    () -> CompletableFuture.completedFuture(null),
                    e -> failed("event of request " + request.id() + " not written", e)));
        }

        /** Ends the events without a terminal one: the records stay unacknowledged, to be served again. */
        void abandon() {
            var o = out;
            if (o != null) o.complete();
        }

        /** Writes the one terminal event; once the broker acknowledged it, the request's records are acknowledged. */
        void terminal(byte[] value) {
            boolean write;
            synchronized (this) {
                write = !closing && !abandoned;
                writing = write;
            }
            if (!write) {
                abandon();
                return;
            }
            String id = request.id();
            out.emit(Message.of(value, metadata, this::finished,
                    e -> failed("terminal event of request " + id + " not written", e)));
            out.complete();
        }

        private CompletionStage<Void> finished() {
            String id = request.id();
            completed.add(id); // before leaving running: a duplicate taken now sees one or the other
            terminalEvents.incrementAndGet();
            running.remove(id, this);
            written();
            List<Message<byte[]>> acks;
            synchronized (records) {
                acks = List.copyOf(records);
            }
            return CompletableFuture.allOf(acks.stream().map(r -> r.ack().toCompletableFuture())
                    .toArray(CompletableFuture[]::new));
        }

        private synchronized void written() {
            writing = false;
            notifyAll();
        }

        private CompletionStage<Void> failed(String what, Throwable e) {
            written();
            fail(what, e);
            return CompletableFuture.completedFuture(null);
        }

        /**
         * Its partition was taken away: from now on it writes nothing. True if its terminal event is being written:
         * the caller waits for it ({@link #awaitWritten}); else it is abandoned and its call cancelled.
         */
        boolean leave() {
            synchronized (this) {
                abandoned = true;
                if (writing) return true;
            }
            running.remove(request.id(), this);
            cancel("its partition " + partition + " was revoked");
            abandon();
            return false;
        }

        synchronized boolean abandoned() {
            return abandoned;
        }

        synchronized void awaitWritten(long deadlineNanos) throws InterruptedException {
            while (writing) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) return;
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }

        void cancel(String why) {
            AttentionCall c = call;
            if (c != null) c.cancel(why);
        }
    }

    private void serve(InferenceRequest r, Events events) {
        int[] prompt;
        if (r.promptTokenIds().isPresent()) {
            prompt = r.promptTokenIds().get();
        } else if (tokenizer.isEmpty()) {
            events.terminal(ResponseEvents.error(r.id(), NO_TOKENIZER, "request " + r.id() + " gives '"
                    + (r.prompt().isPresent() ? "prompt' as text" : "messages'") + ", but this orchestrator has no"
                    + " tokenizer (set orchestrator.model-dir); send 'prompt_token_ids'"));
            return;
        } else if (r.prompt().isPresent()) {
            prompt = tokenizer.get().encode(r.prompt().get(), true);
        } else {
            try {
                prompt = ChatPrompt.encode(tokenizer.get(), r.messages().orElseThrow());
            } catch (IllegalStateException | IllegalArgumentException e) {
                events.terminal(ResponseEvents.error(r.id(), REJECTED, "request " + r.id() + ": " + e.getMessage()
                        + (e instanceof IllegalStateException ? "; send 'prompt' or 'prompt_token_ids'" : "")));
                return;
            }
        }
        if (!r.stop().isEmpty() && tokenizer.isEmpty()) {
            events.terminal(ResponseEvents.error(r.id(), NO_TOKENIZER, "request " + r.id() + " gives 'stop' strings,"
                    + " but this orchestrator has no tokenizer to read the text (set orchestrator.model-dir); send"
                    + " 'stop_token_ids'"));
            return;
        }
        dispatch(r, events, generateRequest(r, prompt), System.nanoTime(), 0);
    }

    /**
     * Runs the request on an attention service. One refused for load ({@code RESOURCE_EXHAUSTED}: the service's queue
     * is full) is tried again after a back-off rather than answered: its record is held here meanwhile, within
     * {@code max-in-flight}, so past saturation the backlog waits in Kafka (the connector pauses) and nothing is lost.
     */
    private void dispatch(InferenceRequest r, Events events, GenerateRequest request, long startNanos, int refusals) {
        Optional<StopStringWatch> stops = r.stop().isEmpty() ? Optional.empty()
                : Optional.of(new StopStringWatch(tokenizer.orElseThrow(), r.stop()));
        AtomicReference<StopStringWatch.Match> stopped = new AtomicReference<>();
        AtomicLong firstTokenNanos = new AtomicLong();
        long takenNanos = events.takenNanos;
        AtomicReference<DoorMeters.Observed> observed = new AtomicReference<>();
        // (tokens told) each token's, when the request asked for them
        List<TokenLogprobs> logprobs = Collections.synchronizedList(new ArrayList<>());
        observed.set(meters.observe("kafka", new GenerationListener() {

            @Override
            public void token(TokenEvent token) {
                if (stopped.get() != null) return; // after the stop string: neither sent nor kept
                int index = token.getIndex();
                int tokenId = token.getTokenId();
                Optional<TokenLogprobs> mine = r.wantsLogprobs() && token.hasLogprobs()
                        ? Optional.of(token.getLogprobs()) : Optional.empty();
                mine.ifPresent(logprobs::add);
                if (index == 0) firstTokenNanos.set(System.nanoTime());
                if (stops.isPresent()) {
                    Optional<StopStringWatch.Match> m = stops.get().add(tokenId);
                    if (m.isPresent()) {
                        stopped.set(m.get());
                        observed.get().stoppedByDoor();
                        AttentionCall c = events.call;
                        if (c != null) c.cancel("stop string"); // else cancelled as soon as start returns
                    }
                }
                if (r.stream()) events.token(index, tokenId, mine);
            }

            @Override
            public void completed(Completion c, String attentionService) {
                StopStringWatch.Match m = stopped.get();
                if (m != null) { // the stop string came with the generation's last token, before the cancel
                    stoppedAt(m, request.getPromptTokenIdsCount(), attentionService, c.getPrefillNanos() / 1e6,
                            c.getDecodeNanos() / 1e6);
                    return;
                }
                FinishReason reason = GenerationWire.finishReason(c);
                if (reason == FinishReason.ERROR) {
                    events.terminal(ResponseEvents.error(r.id(), GENERATION_FAILED, "attention service "
                            + attentionService + ": " + c.getErrorMessage()));
                    return;
                }
                int[] ids = c.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                if (logprobsMissing(ids.length, attentionService)) return;
                long now = System.nanoTime();
                var timings = new ResponseEvents.Timings(millis(startNanos - takenNanos), c.getPrefillNanos() / 1e6,
                        c.getDecodeNanos() / 1e6, millis(now - takenNanos));
                events.terminal(ResponseEvents.completed(r.id(), ids, tokenizer.map(tk -> tk.decode(ids, true)),
                        reason.wireName(), c.getPromptTokens(), attentionService, timings, logprobs()));
            }

            /** The tokens' logprobs, when asked for. */
            private Optional<List<TokenLogprobs>> logprobs() {
                return r.wantsLogprobs() ? Optional.of(List.copyOf(logprobs)) : Optional.empty();
            }

            /**
             * Whether the request asked for logprobs and the service sent fewer than {@code tokens} (one that predates
             * them): the request then ends in an error event rather than a completed one without what it asked.
             */
            private boolean logprobsMissing(int tokens, String attentionService) {
                if (!r.wantsLogprobs() || logprobs.size() >= tokens) return false;
                events.terminal(ResponseEvents.error(r.id(), ATTENTION_FAILED, "request " + r.id() + ": attention"
                        + " service " + attentionService + " sent tokens without the logprobs asked for (a service"
                        + " that predates them?)"));
                return true;
            }

            @Override
            public void failed(Status status, String message) {
                StopStringWatch.Match m = stopped.get();
                if (m != null) {
                    // cancelled here at the stop string (CANCELLED), or broken off after it: the generation is whole;
                    // the door measured its times itself
                    long first = firstTokenNanos.get();
                    AttentionCall c = events.call;
                    stoppedAt(m, request.getPromptTokenIdsCount(), c == null ? "" : c.attentionService(),
                            millis(first - startNanos), millis(System.nanoTime() - first));
                    return;
                }
                if (DoorAdmission.isOverload(status) && !closing) {
                    pool.retryLater(() -> dispatch(r, events, request, startNanos, refusals + 1),
                            OVERLOAD_BACKOFF_MS * (1L << Math.min(refusals, OVERLOAD_BACKOFF_DOUBLINGS)));
                    return;
                }
                boolean refused = status.getCode() == Status.Code.INVALID_ARGUMENT
                        || status.getCode() == Status.Code.FAILED_PRECONDITION;
                events.terminal(ResponseEvents.error(r.id(), refused ? REJECTED : ATTENTION_FAILED, message));
            }

            private void stoppedAt(StopStringWatch.Match m, int promptTokens, String attentionService, double prefillMs,
                                   double decodeMs) {
                if (logprobsMissing(m.tokenIds().length, attentionService)) return;
                var timings = new ResponseEvents.Timings(millis(startNanos - takenNanos), prefillMs, decodeMs,
                        millis(System.nanoTime() - takenNanos));
                events.terminal(ResponseEvents.completed(r.id(), m.tokenIds(), Optional.of(m.text()),
                        FinishReason.STOP.wireName(), promptTokens, attentionService, timings, logprobs()));
            }
        }));
        GenerationListener listener = observed.get();
        if (closing || events.abandoned()) { // a retry after a refusal for load, due after the door closed or left
            events.abandon();
            return;
        }
        AttentionCall c;
        try (Scope ignored = events.trace.makeCurrent()) { // the call carries it to the attention service
            c = AttentionCall.start(pool, request, listener);
        }
        events.call = c;
        if (stopped.get() != null) c.cancel("stop string");
        if (closing || events.abandoned()) c.cancel("the orchestrator is stopping, or the request's partition left");
    }

    /**
     * Starts the request's span as a child of the trace its record carries (the connector's receive span, itself a
     * child of the record's {@code traceparent}) and returns its context; the root when there is none, as with
     * tracing off, so that an untraced request costs nothing.
     */
    private Context requestSpan(InferenceRequest request, Message<byte[]> record) {
        Context parent = TracingMetadata.fromMessage(record).map(TracingMetadata::getCurrentContext)
                .orElse(Context.root());
        if (!Span.fromContext(parent).getSpanContext().isValid()) return Context.root();
        Span span = tracer.spanBuilder("kafka door request").setParent(parent)
                .setAttribute("moemesh.request_id", request.id()).startSpan();
        return parent.with(span);
    }

    private static GenerateRequest generateRequest(InferenceRequest r, int[] promptIds) {
        return GenerationWire.request(r.id(), promptIds, new SamplingParams(r.maxTokens(), r.temperature(), r.topK(),
                r.topP(), r.seed(), r.stopTokenIds(), r.ignoreEos(), r.logprobs()));
    }

    private static double millis(long nanos) {
        return nanos / 1e6;
    }

    /** The consumer was given these partitions: first, read the terminal events written since the last read. */
    public void assigned(Collection<TopicPartition> partitions) {
        int read = completed.catchUp();
        assigned.addAll(partitions);
        LOG.infof("partitions %s are this door's (%d more ids with terminal events read)", partitions, read);
    }

    /**
     * These partitions were taken away (revoked, or lost): their requests running here write nothing more, so that
     * their new owner, which serves their records again, writes the one terminal event. A terminal event being
     * written now is waited for (its new owner then reads it and skips the request); the others are abandoned and
     * their calls cancelled.
     */
    public void revoked(Collection<TopicPartition> partitions) {
        assigned.removeAll(partitions);
        List<Events> writing = new ArrayList<>();
        int abandoned = 0;
        for (Events e : running.values()) {
            if (!partitions.contains(e.partition)) continue;
            if (e.leave()) {
                writing.add(e);
            } else {
                abandoned++;
            }
        }
        left.addAndGet(abandoned);
        long deadline = System.nanoTime() + REVOKE_WRITE_WAIT.toNanos();
        try {
            for (Events e : writing) e.awaitWritten(deadline);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!partitions.isEmpty()) {
            LOG.infof("partitions %s left this door: %d running requests abandoned to their new owner, %d terminal"
                    + " events waited for", partitions, abandoned, writing.size());
        }
    }

    private void fail(String what, Throwable e) {
        if (failure.compareAndSet(null, new IllegalStateException(what + ": " + e.getMessage(), e))) {
            LOG.errorf(e, "the Kafka front door stopped (%s); its unfinished requests are served again after a"
                    + " restart", what);
        }
    }

    /**
     * Stops serving and abandons the requests running: their records stay unacknowledged, so the next start serves
     * them (or skips those whose terminal event got out meanwhile).
     */
    @Override
    public void close() {
        closing = true;
        // cancelled, not run again elsewhere as the failures of a closed pool would be
        running.values().forEach(e -> e.cancel("the orchestrator is stopping"));
        pool.close();
        admin.close(Duration.ofSeconds(5));
        tokenizer.ifPresent(Tokenizer::close);
    }
}
