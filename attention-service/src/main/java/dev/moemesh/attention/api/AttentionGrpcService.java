package dev.moemesh.attention.api;

import dev.moemesh.attention.AttentionBeans.Served;
import dev.moemesh.attention.AttentionSettings;
import dev.moemesh.attention.engine.EngineLoop;
import dev.moemesh.attention.engine.GenerationTraces;
import dev.moemesh.attention.metrics.AttentionMetrics;
import dev.moemesh.core.engine.EngineStats;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.CancelRequest;
import dev.moemesh.proto.CancelResponse;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.ExpertServiceState;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import dev.moemesh.wire.GenerationWire;
import dev.moemesh.wire.RequestIds;
import org.jboss.logging.Logger;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The gRPC edge of the attention service: generations on the engine loop, streamed token by token. */
@GrpcService
public class AttentionGrpcService extends AttentionServiceGrpc.AttentionServiceImplBase {
    private static final Logger LOG = Logger.getLogger(AttentionGrpcService.class);
    private final EngineLoop loop;
    private final Served served;
    private final AttentionMetrics metrics;
    private final Map<String, Boolean> live = new ConcurrentHashMap<>();
    private final Admission admission;
    private final GenerationTraces traces;

    AttentionGrpcService(EngineLoop loop, Served served, AttentionMetrics metrics, AttentionSettings config,
                         GenerationTraces traces) {
        this.loop = loop;
        this.traces = traces;
        this.served = served;
        this.metrics = metrics;
        this.admission = new Admission(config.maxSequences(), config.maxQueuedRequests());
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateEvent> events) {
        GenerationRequest generation;
        try {
            generation = GenerateRequests.toEngine(request, served.fingerprint());
        } catch (StatusRuntimeException e) {
            events.onError(e);
            return;
        }
        String id = request.getRequestId();
        if (live.putIfAbsent(id, Boolean.TRUE) != null) {
            events.onError(Status.ALREADY_EXISTS.withDescription("request_id '" + id + "' is already generating here")
                    .asRuntimeException());
            return;
        }
        if (!admission.tryAdmit()) {
            live.remove(id);
            metrics.refused();
            events.onError(admission.refusal(id));
            return;
        }
        if (events instanceof ServerCallStreamObserver<GenerateEvent> server) {
            server.setOnCancelHandler(() -> {
                if (live.containsKey(id)) loop.cancel(id);
            });
        }
        try {
            // a child of the call's span (Quarkus's gRPC instrumentation reads the caller's traceparent)
            loop.submit(generation, traces.traced(id, request.getPromptTokenIdsCount(), new Streamer(id, events)));
        } catch (IllegalArgumentException e) {
            live.remove(id);
            admission.release();
            events.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    @Override
    public void cancel(CancelRequest request, StreamObserver<CancelResponse> response) {
        boolean known = live.containsKey(request.getRequestId());
        if (known) loop.cancel(request.getRequestId());
        response.onNext(CancelResponse.newBuilder().setCancelled(known).build());
        response.onCompleted();
    }

    @Override
    public void getAttentionStats(GetAttentionStatsRequest request, StreamObserver<AttentionStats> response) {
        EngineStats s = loop.stats();
        AttentionStats.Builder stats = AttentionStats.newBuilder().setRunningSequences(s.running())
                .setWaitingSequences(s.waiting()).setParkedSequences(s.parked()).setKvBlocksTotal(s.kvBlocksTotal()).setKvBlocksUsed(s.kvBlocksUsed())
                .setKvBlockTokens(s.kvBlockTokens()).setGeneratedTokens(s.generatedTokens())
                .setPrefillTokens(s.prefillTokens()).setSpeculativeDrafted(s.speculation().drafted())
                .setSpeculativeAccepted(s.speculation().accepted()).setDecodeSteps(s.speculation().decodeSteps());
        served.remote().ifPresent(r -> {
            var l = r.latency().snapshot(request.getResetLatencies());
            stats.setExpertCalls(l.calls()).setExpertRoundTripP50Nanos(l.roundTripP50())
                    .setExpertRoundTripP99Nanos(l.roundTripP99()).setExpertOverheadP50Nanos(l.overheadP50())
                    .setExpertOverheadP99Nanos(l.overheadP99()).setExpertSendP50Nanos(l.sendP50())
                    .setExpertQueueP50Nanos(l.queueP50()).setExpertTransportP50Nanos(l.transportP50())
                    .setExpertCallsRetried(r.callsRetried())
                    .setPlacementVersion(r.placement().version());
            for (var service : r.services()) {
                stats.addExpertServices(ExpertServiceState.newBuilder().setAddress(service.address())
                        .setBreaker(service.breaker().name().toLowerCase(Locale.ROOT)));
            }
        });
        response.onNext(stats.build());
        response.onCompleted();
    }

    /** Sends a generation's tokens as they come and its end as one Completion; runs on the engine thread. */
    private final class Streamer implements TokenListener {
        private final String id;
        private final StreamObserver<GenerateEvent> events;
        private final long arrivedNanos = System.nanoTime();
        private int index;

        Streamer(String id, StreamObserver<GenerateEvent> events) {
            this.id = id;
            this.events = events;
        }

        @Override
        public void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {
            if (index == 0) metrics.firstToken(arrivedNanos);
            int at = index++;
            if (isCancelled()) return;
            TokenEvent.Builder token = TokenEvent.newBuilder().setTokenId(tokenId).setIndex(at);
            if (logprobs != null) token.setLogprobs(GenerationWire.logprobs(logprobs));
            events.onNext(GenerateEvent.newBuilder().setRequestId(id).setToken(token).build());
        }

        @Override
        public void onFinish(Generation g) {
            live.remove(id);
            admission.release();
            logFinish(g);
            metrics.finished(arrivedNanos, g.finishReason().wireName());
            if (isCancelled()) return;
            Completion.Builder c = GenerationWire.finished(Completion.newBuilder(), g.finishReason())
                    .setPromptTokens(g.promptTokens()).setPrefillNanos(g.prefillNanos()).setDecodeNanos(g.decodeNanos());
            for (int t : g.tokenIds()) c.addTokenIds(t);
            if (g.error() != null) c.setErrorMessage(g.error());
            events.onNext(GenerateEvent.newBuilder().setRequestId(id).setCompleted(c).build());
            events.onCompleted();
        }

        /** One line per generation, carrying the request id in the MDC as the front doors' lines do. */
        private void logFinish(Generation g) {
            RequestIds.log(LOG, g.error() != null ? Logger.Level.WARN : Logger.Level.INFO, id,
                    "request %s: finish %s, %d prompt + %d generated tokens, prefill %d ms, decode %d ms%s", id,
                    g.finishReason().wireName(), g.promptTokens(), g.tokenIds().length, g.prefillNanos() / 1_000_000,
                    g.decodeNanos() / 1_000_000, g.error() == null ? "" : ": " + g.error());
        }

        private boolean isCancelled() {
            return events instanceof ServerCallStreamObserver<GenerateEvent> s && s.isCancelled();
        }
    }
}
