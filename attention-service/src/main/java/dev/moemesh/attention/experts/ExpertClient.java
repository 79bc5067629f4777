package dev.moemesh.attention.experts;

import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One expert service, reached over one channel and one persistent {@code RunExpertsStream}: requests go out in
 * sequence order and the service answers in the same order. A broken stream fails every request on it and the
 * next request opens a new one, so a restarted service is used again without a restart here.
 */
public final class ExpertClient implements AutoCloseable {
    private static final int MAX_MESSAGE_BYTES = 64 << 20;
    private static final long CONNECT_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);

    private final String address;
    private final String instance;
    private final ManagedChannel channel;
    private final ExpertServiceGrpc.ExpertServiceStub stub;
    private final AtomicLong outstandingRows = new AtomicLong();
    private final Object lock = new Object();
    private volatile Stream stream; // written under lock; null until the first request or after a reset
    private long nextSequence;

    public ExpertClient(String address) {
        this(address, MeshChannels.PLAINTEXT);
    }

    public ExpertClient(String address, MeshChannels channels) {
        this(address, "", channels);
    }

    /**
     * @param instance the instance registered at {@code address} (empty when not known): over TLS, a certificate that
     *                 names instances must name it
     */
    public ExpertClient(String address, String instance, MeshChannels channels) {
        this.address = address;
        this.instance = instance;
        this.channel = channels.forTarget(address, MeshRole.EXPERT, instance).directExecutor()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES).build();
        this.stub = ExpertServiceGrpc.newStub(channel);
    }

    public String address() {
        return address;
    }

    /** The instance registered at the address, as the placement named it; empty when not known. */
    public String instance() {
        return instance;
    }

    /** Rows sent and not yet answered: how busy the service is with this caller's work. */
    public long outstandingRows() {
        return outstandingRows.get();
    }

    public DescribeResponse describe(Duration deadline) {
        return ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .describe(DescribeRequest.getDefaultInstance());
    }

    /** Sends one request (its sequence is set here); the future completes with the answer or the stream's failure. */
    public CompletableFuture<Answer> send(RunExpertsRequest.Builder request, int rows) {
        CompletableFuture<Answer> answer = new CompletableFuture<>();
        outstandingRows.addAndGet(rows);
        answer.whenComplete((r, e) -> outstandingRows.addAndGet(-rows));
        synchronized (lock) {
            if (stream == null || stream.broken) {
                connect(CONNECT_WAIT_NANOS);
                stream = new Stream();
            }
            Stream s = stream;
            request.setSequence(nextSequence++);
            s.waiting.add(new Waiting(request.getSequence(), answer));
            s.requests.onNext(request.build());
            // callbacks run on the transport's thread, or inline when the call fails at once: then it failed
            // before this request was waiting, and the request fails here
            if (s.broken) s.fail(s.failure);
        }
        return answer;
    }

    /** Whether the stream broke from the service's side (it went away) and no request has opened a new one since. */
    public boolean streamBroken() {
        Stream s = stream;
        return s != null && s.broken;
    }

    /**
     * Whether the channel is connected now, without waiting. When it is not, a connection attempt starts (past
     * gRPC's reconnect back-off), so a service that is back is found connected at a later look.
     */
    public boolean connectedNow() {
        ConnectivityState state = channel.getState(true);
        if (state == ConnectivityState.TRANSIENT_FAILURE) channel.resetConnectBackoff();
        return state == ConnectivityState.READY;
    }

    /**
     * Waits (briefly) for the channel to be connected before a stream opens on it. After the service was down, the
     * channel may sit in its reconnect back-off; a restarted service is used at once rather than after it.
     */
    private void connect(long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        ConnectivityState state = channel.getState(true);
        while (state != ConnectivityState.READY && System.nanoTime() < deadline) {
            if (state == ConnectivityState.TRANSIENT_FAILURE) channel.resetConnectBackoff();
            CountDownLatch changed = new CountDownLatch(1);
            channel.notifyWhenStateChanged(state, changed::countDown);
            try {
                if (!changed.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            state = channel.getState(true);
        }
    }

    /** Ends the current stream, failing what waits on it, so the next request starts afresh. */
    public void reset(String why) {
        synchronized (lock) {
            if (stream != null) stream.abandon(Status.CANCELLED.withDescription(why));
            stream = null;
        }
    }

    @Override
    public void close() {
        reset("client closed");
        channel.shutdownNow();
    }

    /** A service's response and when it arrived here ({@link System#nanoTime}). */
    public record Answer(RunExpertsResponse response, long arrivedNanos) {}

    private record Waiting(long sequence, CompletableFuture<Answer> answer) {}

    private final class Stream implements StreamObserver<RunExpertsResponse> {
        final ArrayDeque<Waiting> waiting = new ArrayDeque<>(); // guarded by lock
        final StreamObserver<RunExpertsRequest> requests;
        volatile boolean broken;
        volatile Status failure;

        Stream() {
            requests = stub.runExpertsStream(this);
        }

        @Override
        public void onNext(RunExpertsResponse response) {
            long arrived = System.nanoTime();
            Waiting w;
            synchronized (lock) {
                w = waiting.poll();
            }
            if (w == null || w.sequence() != response.getSequence()) {
                fail(Status.INTERNAL.withDescription("expert service " + address + " answered sequence "
                        + response.getSequence() + " but " + (w == null ? "nothing" : "sequence " + w.sequence())
                        + " was next"));
                if (w != null) w.answer().completeExceptionally(new StatusRuntimeException(Status.INTERNAL));
                return;
            }
            w.answer().complete(new Answer(response, arrived));
        }

        @Override
        public void onError(Throwable cause) {
            fail(Status.fromThrowable(cause));
        }

        @Override
        public void onCompleted() {
            fail(Status.UNAVAILABLE.withDescription("expert service " + address + " closed the stream"));
        }

        void abandon(Status why) {
            if (!broken) requests.onError(why.asRuntimeException());
            fail(why);
        }

        void fail(Status why) {
            if (failure == null) failure = why;
            broken = true;
            ArrayDeque<Waiting> failed;
            synchronized (lock) {
                failed = new ArrayDeque<>(waiting);
                waiting.clear();
            }
            for (Waiting w : failed) w.answer().completeExceptionally(why.asRuntimeException());
        }
    }
}
