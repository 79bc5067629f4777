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

    /**
     * Terminal events heard for a request that had already ended: a second answer to one id, which a door's contract
     * forbids. Only a door whose answers can repeat counts them (Kafka's: a topic anyone may read again); 0 otherwise.
     */
    default long repeatedTerminalEvents() {
        return 0;
    }

    @Override
    void close();
}
