package dev.moemesh.testing;

import io.grpc.stub.StreamObserver;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** The messages of a gRPC response stream as they arrive, and its end: completed, or failed with the error. */
public final class StreamRecorder<T> implements StreamObserver<T> {
    private final List<T> received = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> done = new CompletableFuture<>();

    /** What arrived so far, in order; safe to read while the stream runs. */
    public List<T> received() {
        return received;
    }

    /** Completes when the stream does; fails with the stream's error. */
    public CompletableFuture<Void> done() {
        return done;
    }

    @Override
    public void onNext(T message) {
        received.add(message);
    }

    @Override
    public void onError(Throwable t) {
        done.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
        done.complete(null);
    }
}
