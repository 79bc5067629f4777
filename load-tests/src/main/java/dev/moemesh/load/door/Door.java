package dev.moemesh.load.door;

import dev.moemesh.load.workload.LoadRequest;

/** A front door of the mesh as a load generator's client reaches it. */
public interface Door extends AutoCloseable {
    /** {@code kafka}, {@code grpc} or {@code rest}. */
    String name();

    /**
     * Sends the request and returns without waiting for its answer; the trace hears its tokens and its end. A
     * failure to send is the trace's failure, not an exception.
     */
    void send(LoadRequest request, RequestTrace trace);

    @Override
    void close();
}
