package dev.moemesh.attention.experts;

import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.RoutedBatch;
import io.quarkus.logging.Log;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Routed experts computed by expert services: a layer's groups are split by the service that holds each expert
 * (among replicas, the least busy one whose breaker is closed), sent to all of those services at once, and their
 * answers written back into the batch's output rows; a share whose service fails is re-sent to another replica
 * ({@link ExpertCall}). The outputs are the services' bf16 rows, exactly.
 */
public final class RemoteExperts implements ExpertBackend {
    private final List<ExpertClient> clients;
    private final InstanceBreaker[] breakers; // one per client, same index
    private final String fingerprint;
    private final Duration timeout;
    private final Duration breakerOpenFor;
    private final ExpertLatency latency = new ExpertLatency();
    private final AtomicLong callsRetried = new AtomicLong();
    private volatile Placement placement;

    /**
     * @param timeout        how long one layer's call may take, re-sends to other replicas included
     * @param breakerOpenFor how long a service whose call failed is passed over for its replicas before a probe
     */
    public RemoteExperts(List<ExpertClient> clients, Placement placement, String fingerprint, Duration timeout,
                         Duration breakerOpenFor) {
        this.clients = List.copyOf(clients);
        this.breakers = new InstanceBreaker[clients.size()];
        for (int c = 0; c < breakers.length; c++) {
            breakers[c] = new InstanceBreaker(breakerOpenFor.toNanos(), System::nanoTime);
        }
        this.placement = placement;
        this.fingerprint = fingerprint;
        this.timeout = timeout;
        this.breakerOpenFor = breakerOpenFor;
    }

    public Placement placement() {
        return placement;
    }

    /** Takes effect for the next batch; batches already sent finish with the placement they were sent with. */
    public void usePlacement(Placement next) {
        this.placement = next;
    }

    public List<ExpertClient> clients() {
        return clients;
    }

    public ExpertLatency latency() {
        return latency;
    }

    /** Layer calls since start in which a service's share failed and was re-sent to another replica. */
    public long callsRetried() {
        return callsRetried.get();
    }

    /** An expert service as this caller sees it: its address and its breaker. */
    public record ServiceState(String address, InstanceBreaker.State breaker) {}

    /** Every expert service, in configuration order. */
    public List<ServiceState> services() {
        List<ServiceState> states = new ArrayList<>(clients.size());
        for (int c = 0; c < breakers.length; c++) {
            states.add(new ServiceState(clients.get(c).address(), breakers[c].state()));
        }
        return states;
    }

    @Override
    public void run(RoutedBatch batch) {
        submit(batch).await();
    }

    @Override
    public Pending submit(RoutedBatch batch) {
        return ExpertCall.send(this, batch, placement);
    }

    int clientCount() {
        return breakers.length;
    }

    ExpertClient client(int c) {
        return clients.get(c);
    }

    InstanceBreaker breaker(int c) {
        return breakers[c];
    }

    String fingerprint() {
        return fingerprint;
    }

    Duration timeout() {
        return timeout;
    }

    /** Client {@code c} answered (a refusal about the request or the placement included): it is alive. */
    void answered(int c, long arrivedNanos) {
        if (breakers[c].answered(arrivedNanos)) {
            Log.infof("expert service %s answers again; breaker closed", clients.get(c).address());
        }
    }

    /** A call to client {@code c} failed, or a probe found it unreachable: its breaker opens. */
    void failed(int c) {
        if (breakers[c].failed()) {
            Log.warnf("expert service %s: breaker open; its replicas take its work for %d ms, then one call probes it",
                    clients.get(c).address(), breakerOpenFor.toMillis());
        }
    }

    void callRetried() {
        callsRetried.incrementAndGet();
    }
}
