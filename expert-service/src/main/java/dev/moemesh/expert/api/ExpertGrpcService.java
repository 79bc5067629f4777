package dev.moemesh.expert.api;

import com.google.protobuf.UnsafeByteOperations;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.ExpertSettings;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertStats;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GetExpertStatsRequest;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.LoadExpertsResponse;
import dev.moemesh.proto.RequestError;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.proto.UnloadExpertsResponse;
import dev.moemesh.tls.MeshTraceContext;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** The gRPC edge of the expert service: ExpertService over the held experts. */
@GrpcService
public class ExpertGrpcService extends ExpertServiceGrpc.ExpertServiceImplBase {
    private static final AtomicInteger STREAMS = new AtomicInteger();

    private final HeldExperts held;
    private final ExpertTokenCounters counters;
    private final ExpertSettings config;
    private final ExpertRun run;
    private final ExpertControl control;
    private final Tracer tracer;

    ExpertGrpcService(HeldExperts held, ExpertTokenCounters counters, ExpertSettings config, Tracer tracer) {
        this.held = held;
        this.tracer = tracer;
        this.counters = counters;
        this.config = config;
        this.run = new ExpertRun(held, counters, config.minPlacementVersion());
        this.control = new ExpertControl(held, counters);
    }

    @Override
    @Blocking
    public void runExperts(RunExpertsRequest request, StreamObserver<RunExpertsResponse> response) {
        try {
            long started = System.nanoTime();
            // ExpertRun returns a fresh array that nothing else keeps: wrapped, not copied
            byte[] outputs = run.run(request);
            response.onNext(RunExpertsResponse.newBuilder().setSequence(request.getSequence())
                    .setOutputs(UnsafeByteOperations.unsafeWrap(outputs)).setComputeNanos(System.nanoTime() - started)
                    .build());
            response.onCompleted();
        } catch (StatusRuntimeException e) {
            response.onError(e);
        }
    }

    /**
     * One persistent stream per caller. Its requests are computed one after another on a thread of its own, so
     * responses keep request order and the transport's threads never wait for a matrix product.
     */
    @Override
    public StreamObserver<RunExpertsRequest> runExpertsStream(StreamObserver<RunExpertsResponse> responses) {
        ExecutorService worker = Executors.newSingleThreadExecutor(
                r -> Thread.ofPlatform().daemon().name("expert-stream-" + STREAMS.incrementAndGet()).unstarted(r));
        return new StreamObserver<>() {
            @Override
            public void onNext(RunExpertsRequest request) {
                long arrived = System.nanoTime();
                worker.execute(() -> {
                    RunExpertsResponse answer = answerOnStream(request, arrived);
                    synchronized (responses) {
                        responses.onNext(answer);
                    }
                });
            }

            @Override
            public void onError(Throwable cause) {
                worker.shutdown();
            }

            @Override
            public void onCompleted() {
                worker.execute(() -> {
                    synchronized (responses) {
                        responses.onCompleted();
                    }
                });
                worker.shutdown();
            }
        };
    }

    /** Computes one stream request that reached the transport's thread at {@code arrived} ({@link System#nanoTime}). */
    private RunExpertsResponse answerOnStream(RunExpertsRequest request, long arrived) {
        // a stream serves many steps: each request carries its step's trace context (unary calls carry theirs in
        // their headers, read by Quarkus's gRPC instrumentation)
        Context step = MeshTraceContext.parent(request.getTraceparent());
        if (step == Context.root()) return answer(request, arrived);
        Span span = tracer.spanBuilder("run experts").setParent(step).setAttribute("moemesh.layer", request.getLayer())
                .setAttribute("moemesh.experts", request.getExpertIdsCount()).startSpan();
        try {
            return answer(request, arrived);
        } finally {
            span.end();
        }
    }

    private RunExpertsResponse answer(RunExpertsRequest request, long arrived) {
        long started = System.nanoTime();
        RunExpertsResponse.Builder response = RunExpertsResponse.newBuilder().setSequence(request.getSequence())
                .setQueueNanos(Math.max(0, started - arrived));
        try {
            response.setOutputs(UnsafeByteOperations.unsafeWrap(run.run(request)));
            response.setComputeNanos(System.nanoTime() - started);
        } catch (StatusRuntimeException e) {
            Status status = e.getStatus();
            response.setError(RequestError.newBuilder().setCode(status.getCode().value())
                    .setMessage(status.getDescription() == null ? status.getCode().name() : status.getDescription()));
        } catch (RuntimeException e) {
            response.setError(RequestError.newBuilder().setCode(Status.Code.INTERNAL.value())
                    .setMessage("expert computation failed: " + e));
        }
        return response.build();
    }

    @Override
    @Blocking
    public void loadExperts(LoadExpertsRequest request, StreamObserver<LoadExpertsResponse> response) {
        try {
            response.onNext(LoadExpertsResponse.newBuilder()
                    .addAllHeld(layerExperts(control.load(request.getExpertsList()))).build());
            response.onCompleted();
        } catch (StatusRuntimeException e) {
            response.onError(e);
        }
    }

    @Override
    @Blocking
    public void unloadExperts(UnloadExpertsRequest request, StreamObserver<UnloadExpertsResponse> response) {
        try {
            response.onNext(UnloadExpertsResponse.newBuilder()
                    .addAllHeld(layerExperts(control.unload(request.getExpertsList()))).build());
            response.onCompleted();
        } catch (StatusRuntimeException e) {
            response.onError(e);
        }
    }

    @Override
    public void getExpertStats(GetExpertStatsRequest request, StreamObserver<ExpertStats> response) {
        ExpertStats.Builder stats = ExpertStats.newBuilder().setTotalRequests(run.requests())
                .setRefusedRequests(run.refused());
        counters.snapshot().forEach((id, tokens) -> stats.addTokens(
                ExpertTokens.newBuilder().setLayer(id.layer()).setExpert(id.expert()).setTokens(tokens)));
        response.onNext(stats.build());
        response.onCompleted();
    }

    @Override
    public void describe(DescribeRequest request, StreamObserver<DescribeResponse> response) {
        response.onNext(DescribeResponse.newBuilder().setModelFingerprint(held.fingerprint())
                .addAllHeld(layerExperts(held.held())).setBackend(held.backend().device())
                .setHidden(held.config().hiddenSize()).setMinPlacementVersion(config.minPlacementVersion()).build());
        response.onCompleted();
    }

    private static List<LayerExpert> layerExperts(List<ExpertId> ids) {
        return ids.stream().map(ExpertGrpcService::toWire).toList();
    }

    /** An expert as the wire names it (Describe, LoadExperts, Register). */
    public static LayerExpert toWire(ExpertId id) {
        return LayerExpert.newBuilder().setLayer(id.layer()).setExpert(id.expert()).build();
    }
}
