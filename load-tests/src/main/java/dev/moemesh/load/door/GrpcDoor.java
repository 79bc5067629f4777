package dev.moemesh.load.door;

import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The router's gRPC {@code InferenceService.Generate}: one server-streaming call per request, tokens as they come.
 *
 * <p>Given several routers, calls go to them in turn, and the client retries as gRPC advises for {@code UNAVAILABLE}:
 * a call that got no event is sent to the next router. With {@code resume}, a stream that breaks part-way with
 * {@code UNAVAILABLE} (its router died) is sent again to the next router and goes on from its next token: a greedy
 * request's answer is the same, so the tokens already received are checked against the new stream's first ones
 * ({@code resume_mismatch} when they differ) and not counted twice. Each router is tried at most once per call.
 */
public final class GrpcDoor implements Door {
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<InferenceServiceGrpc.InferenceServiceStub> stubs = new ArrayList<>();
    private final String model;
    private final Duration deadline;
    private final boolean resume;
    private final AtomicInteger next = new AtomicInteger();

    /** @param target the router's gRPC address, {@code host:port}; @param model the served model's name */
    public GrpcDoor(String target, String model, Duration deadline) {
        this(List.of(target), model, deadline, false);
    }

    /** @param targets the routers' gRPC addresses, taken in turn; {@code resume}: broken streams go on at the next */
    public GrpcDoor(List<String> targets, String model, Duration deadline, boolean resume) {
        if (targets.isEmpty()) throw new IllegalArgumentException("no router to send to");
        for (String target : targets) {
            ManagedChannel channel = NettyChannelBuilder.forTarget(target.strip()).usePlaintext().build();
            channels.add(channel);
            stubs.add(InferenceServiceGrpc.newStub(channel));
        }
        this.model = model;
        this.deadline = deadline;
        this.resume = resume;
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
        long sent = System.nanoTime();
        trace.sent(sent);
        attempt(request.build(), Math.floorMod(next.getAndIncrement(), stubs.size()), 0, new int[0], trace, sent);
    }

    private void attempt(InferenceRequest request, int router, int tries, int[] prior, RequestTrace trace,
                         long sentNanos) {
        long left = deadline.toNanos() - (System.nanoTime() - sentNanos);
        if (left <= 0) {
            trace.failed(System.nanoTime(), "deadline_before_another_router");
            return;
        }
        stubs.get(router % stubs.size()).withDeadlineAfter(left, TimeUnit.NANOSECONDS).generate(request,
                new ClientResponseObserver<InferenceRequest, InferenceEvent>() {
                    private final List<Integer> ids = new ArrayList<>();
                    private ClientCallStreamObserver<InferenceRequest> call;
                    private boolean heard;
                    private boolean ended;

                    @Override
                    public void beforeStart(ClientCallStreamObserver<InferenceRequest> requestStream) {
                        call = requestStream;
                    }

                    @Override
                    public void onNext(InferenceEvent e) {
                        if (ended) return;
                        heard = true;
                        long now = System.nanoTime();
                        if (e.hasToken()) {
                            int at = e.getToken().getIndex();
                            int token = e.getToken().getTokenId();
                            if (at == ids.size()) ids.add(token);
                            if (at >= prior.length) {
                                trace.token(now);
                            } else if (prior[at] != token) {
                                mismatch(now);
                            }
                        } else if (e.hasCompleted()) {
                            int[] answer = e.getCompleted().getTokenIdsList().stream().mapToInt(Integer::intValue)
                                    .toArray();
                            for (int i = 0; i < Math.min(prior.length, answer.length); i++) {
                                if (answer[i] != prior[i]) {
                                    mismatch(now);
                                    return;
                                }
                            }
                            ended = true;
                            trace.answered(now, answer);
                        }
                    }

                    private void mismatch(long now) {
                        ended = true;
                        trace.failed(now, "resume_mismatch");
                        call.cancel("its answer differs from the broken stream's", null);
                    }

                    @Override
                    public void onError(Throwable t) {
                        if (ended) return;
                        ended = true;
                        Status.Code code = Status.fromThrowable(t).getCode();
                        boolean anotherRouter = tries + 1 < stubs.size();
                        if (code == Status.Code.UNAVAILABLE && anotherRouter && !heard) {
                            trace.sentAgain(false);
                            attempt(request, router + 1, tries + 1, prior, trace, sentNanos);
                        } else if (code == Status.Code.UNAVAILABLE && anotherRouter && resume) {
                            trace.sentAgain(true);
                            attempt(request, router + 1, tries + 1, received(), trace, sentNanos);
                        } else {
                            trace.failed(System.nanoTime(), code.name());
                        }
                    }

                    /** The answer's tokens received so far: this stream's, or the earlier one's when that gave more. */
                    private int[] received() {
                        return ids.size() < prior.length ? prior : ids.stream().mapToInt(Integer::intValue).toArray();
                    }

                    @Override
                    public void onCompleted() {
                        if (!ended) trace.failed(System.nanoTime(), "ended_without_answer");
                    }
                });
    }

    @Override
    public void close() {
        for (ManagedChannel channel : channels) channel.shutdownNow();
        try {
            for (ManagedChannel channel : channels) channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
