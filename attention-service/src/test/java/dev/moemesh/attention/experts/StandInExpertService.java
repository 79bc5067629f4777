package dev.moemesh.attention.experts;

import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RequestError;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback expert service that does what it is told with each request on its stream: echo its rows (so a row
 * written back to the wrong place shows), refuse, hang, hold the answer until told, or break the stream; the
 * failures a real expert service (another module, tested end to end in cli's MeshIntegrationTest) cannot be made
 * to show on demand. It counts requests and the streams callers opened and ended.
 */
final class StandInExpertService implements AutoCloseable {

    enum Behaviour { ECHO, BREAK, HANG, HOLD, REFUSE_NOT_HELD, REFUSE_PLACEMENT }

    volatile Behaviour behaviour = Behaviour.ECHO;
    /** Under ECHO: how long to wait before answering, and the compute_nanos and queue_nanos the answer reports. */
    volatile long echoAfterMillis;
    volatile long reportComputeNanos;
    volatile long reportQueueNanos;
    final AtomicInteger requests = new AtomicInteger();
    final AtomicInteger streamsOpened = new AtomicInteger();
    final AtomicInteger streamsEnded = new AtomicInteger();
    final Server server;
    private final List<Runnable> held = new ArrayList<>(); // guarded by itself: answers kept back under HOLD

    StandInExpertService() {
        this(null);
    }

    /** @param tls the server's TLS (mutual, as {@code MeshTls.serverContext} makes it), or null for plaintext */
    StandInExpertService(SslContext tls) {
        try {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("localhost", 0));
            if (tls != null) builder.sslContext(tls);
            server = builder.addService(new Service()).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String address() {
        return "localhost:" + server.getPort();
    }

    /** Sends the answers kept back while the behaviour was HOLD, and echoes from now on. */
    void answerHeld() {
        behaviour = Behaviour.ECHO;
        List<Runnable> answers;
        synchronized (held) {
            answers = new ArrayList<>(held);
            held.clear();
        }
        answers.forEach(Runnable::run);
    }

    @Override
    public void close() {
        server.shutdownNow();
    }

    private final class Service extends ExpertServiceGrpc.ExpertServiceImplBase {
        @Override
        public StreamObserver<RunExpertsRequest> runExpertsStream(StreamObserver<RunExpertsResponse> responses) {
            streamsOpened.incrementAndGet();
            return new StreamObserver<>() {
                @Override
                public void onNext(RunExpertsRequest r) {
                    requests.incrementAndGet();
                    RunExpertsResponse.Builder answer = RunExpertsResponse.newBuilder().setSequence(r.getSequence());
                    switch (behaviour) {
                        case ECHO -> {
                            sleep(echoAfterMillis);
                            responses.onNext(answer.setOutputs(r.getHiddenStates())
                                    .setComputeNanos(reportComputeNanos).setQueueNanos(reportQueueNanos).build());
                        }
                        case BREAK -> responses.onError(Status.UNAVAILABLE.withDescription("stand-in went away")
                                .asRuntimeException());
                        case HANG -> { }
                        case HOLD -> {
                            synchronized (held) {
                                held.add(() -> responses.onNext(answer.setOutputs(r.getHiddenStates()).build()));
                            }
                        }
                        case REFUSE_NOT_HELD -> responses.onNext(answer.setError(error(Status.Code.NOT_FOUND,
                                "not held by this service; check the placement")).build());
                        case REFUSE_PLACEMENT -> responses.onNext(answer.setError(error(
                                Status.Code.FAILED_PRECONDITION, "placement_version 1 is older than 2")).build());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    streamsEnded.incrementAndGet();
                }

                @Override
                public void onCompleted() {
                    streamsEnded.incrementAndGet();
                    responses.onCompleted();
                }
            };
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static RequestError error(Status.Code code, String message) {
        return RequestError.newBuilder().setCode(code.value()).setMessage(message).build();
    }
}
