package dev.moemesh.load.door;

import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** The router's gRPC {@code InferenceService.Generate}: one server-streaming call per request, tokens as they come. */
public final class GrpcDoor implements Door {
    private final ManagedChannel channel;
    private final InferenceServiceGrpc.InferenceServiceStub stub;
    private final String model;
    private final Duration deadline;

    /** @param target the router's gRPC address, {@code host:port}; @param model the served model's name */
    public GrpcDoor(String target, String model, Duration deadline) {
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        this.stub = InferenceServiceGrpc.newStub(channel);
        this.model = model;
        this.deadline = deadline;
    }

    @Override
    public String name() {
        return "grpc";
    }

    @Override
    public void send(LoadRequest r, RequestTrace trace) {
        InferenceRequest.Builder request = InferenceRequest.newBuilder().setModel(model)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(r.maxTokens()).setTemperature(0).setIgnoreEos(true));
        for (int id : r.promptIds()) request.addPromptTokenIds(id);
        trace.sent(System.nanoTime());
        stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).generate(request.build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(InferenceEvent e) {
                        long now = System.nanoTime();
                        if (e.hasToken()) {
                            trace.token(now);
                        } else if (e.hasCompleted()) {
                            trace.answered(now, e.getCompleted().getTokenIdsList().stream().mapToInt(Integer::intValue)
                                    .toArray());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        trace.failed(System.nanoTime(), Status.fromThrowable(t).getCode().name());
                    }

                    @Override
                    public void onCompleted() {
                        trace.failed(System.nanoTime(), "ended_without_answer"); // ignored after an answer
                    }
                });
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
