package dev.moemesh.attention.experts;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.Placement;
import dev.moemesh.tls.MeshChannels;
import io.quarkus.logging.Log;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Routed experts computed by expert services: a layer's groups are split by the service that holds each expert
 * (among replicas, the least busy one whose breaker is closed), sent to all of those services at once, and their
 * answers written back into the batch's output rows; a share whose service fails is re-sent to another replica
 * ({@link ExpertCall}); an expert with no live replica left is left out of the call, and the sequences routed to it
 * wait, set aside by the engine, for a placement that serves it again, within {@link Healing#timeout}
 * ({@link HealingCall}). The outputs are the services' bf16 rows, exactly.
 *
 * <p>The placement can change while it serves ({@link #usePlacement}): the new one and its services' clients are
 * swapped in as one {@link PlacementView} between two layer calls, a call under way finishes with the view it
 * started with, and a service no placement in use names any more is disconnected once the last call using it is
 * done.
 */
public final class RemoteExperts implements ExpertBackend, AutoCloseable {
    private final ModelConfig config;
    private final MeshChannels channels;
    private final String fingerprint;
    private final Duration timeout;
    private final Duration breakerOpenFor;
    private final long retiredGraceNanos;
    private final ExpertLatency latency = new ExpertLatency();
    private final AtomicLong callsRetried = new AtomicLong();
    private final Map<String, ExpertInstance> instances = new LinkedHashMap<>(); // guarded by this: every open client
    private final List<PlacementView> retired = new ArrayList<>();              // guarded by this: replaced, maybe in use
    private volatile PlacementView view;
    private volatile Consumer<String> unreachable = address -> {};
    private volatile Healing healing = Healing.OFF;
    private volatile HealListener healListener = (healed, waitedNanos) -> {};
    private volatile long gaveUpUnder = -1; // the placement version under which a heal last timed out

    /**
     * @param clients        connected clients of the services {@code placement} names, in its order
     * @param timeout        how long one layer's call may take, re-sends to other replicas included
     * @param breakerOpenFor how long a service whose call failed is passed over for its replicas before a probe
     */
    public RemoteExperts(ModelConfig config, List<ExpertClient> clients, PlacementTable placement, String fingerprint,
                         Duration timeout, Duration breakerOpenFor) {
        this(config, clients, placement, fingerprint, timeout, breakerOpenFor, MeshChannels.PLAINTEXT);
    }

    /** @param channels how it reaches the expert services a new placement names: plaintext or mutual TLS */
    public RemoteExperts(ModelConfig config, List<ExpertClient> clients, PlacementTable placement, String fingerprint,
                         Duration timeout, Duration breakerOpenFor, MeshChannels channels) {
        this.channels = channels;
        this.config = config;
        this.fingerprint = fingerprint;
        this.timeout = timeout;
        this.breakerOpenFor = breakerOpenFor;
        // a view not given back (a step that failed between sending a layer and waiting for it) is let go this late
        this.retiredGraceNanos = 2 * timeout.toNanos();
        if (!clients.stream().map(ExpertClient::address).toList().equals(placement.addresses())) {
            throw new IllegalArgumentException("clients for " + clients.stream().map(ExpertClient::address).toList()
                    + " but a placement over " + placement.addresses());
        }
        for (ExpertClient client : clients) {
            instances.put(key(client.address(), client.instance()), newInstance(client));
        }
        this.view = viewOf(placement);
    }

    /** The placement in use. */
    public PlacementTable placement() {
        return view.placement;
    }

    /**
     * Switches to a placement a control plane published, for the layer calls that start from now on. Refused (logged,
     * and false) when it is for another model, not newer than the placement in use, or names an expert the model does
     * not have.
     */
    public synchronized boolean usePlacement(Placement published) {
        long inUse = view.placement.version();
        if (!published.getModelFingerprint().equals(fingerprint)) {
            Log.warnf("placement version %d is for model %s but this attention service serves %s; ignored, keeping"
                    + " version %d", published.getVersion(), published.getModelFingerprint(), fingerprint, inUse);
            return false;
        }
        if (published.getVersion() <= inUse) {
            if (published.getVersion() < inUse) {
                Log.warnf("placement version %d is older than version %d in use; ignored", published.getVersion(),
                        inUse);
            }
            return false;
        }
        PlacementTable next;
        try {
            next = PlacementTable.of(published, config);
        } catch (IllegalArgumentException e) {
            Log.warnf("placement version %d ignored, keeping version %d: %s", published.getVersion(), inUse,
                    e.getMessage());
            return false;
        }
        switchTo(next);
        return true;
    }

    private synchronized void switchTo(PlacementTable next) {
        List<String> added = new ArrayList<>();
        for (int c = 0; c < next.addresses().size(); c++) {
            String address = next.addresses().get(c);
            String key = key(address, next.instance(c));
            if (instances.containsKey(key)) continue;
            ExpertClient client = new ExpertClient(address, next.instance(c), channels);
            client.connectedNow(); // starts connecting, so the first call finds the channel ready
            instances.put(key, newInstance(client));
            added.add(address);
        }
        PlacementView previous = view;
        view = viewOf(next);
        previous.retiredAt(System.nanoTime());
        retired.add(previous);
        previous.release();
        List<String> missing = next.uncovered(config, 8);
        Log.infof("placement version %d in use: expert services %s%s%s", next.version(), next.addresses(),
                added.isEmpty() ? "" : ", connecting to " + added,
                missing.isEmpty() ? "" : "; routed experts without a service (layer:expert, first 8): " + missing);
        closeUnused();
    }

    /**
     * Disconnects the services that no view in use names: not the current one, nor a replaced one a call still
     * holds (unless it was replaced more than the grace ago).
     */
    private synchronized void closeUnused() {
        long now = System.nanoTime();
        retired.removeIf(v -> !v.inUse() || now - v.retiredAt() > retiredGraceNanos);
        Set<ExpertInstance> named = Collections.newSetFromMap(new IdentityHashMap<>());
        addInstances(view, named);
        for (PlacementView v : retired) addInstances(v, named);
        var it = instances.values().iterator();
        while (it.hasNext()) {
            ExpertInstance instance = it.next();
            if (named.contains(instance)) continue;
            it.remove();
            instance.client().close();
            Log.infof("expert service %s is in no placement in use; disconnected", instance.address());
        }
    }

    private static void addInstances(PlacementView v, Set<ExpertInstance> into) {
        for (int c = 0; c < v.size(); c++) into.add(v.instance(c));
    }

    private PlacementView viewOf(PlacementTable placement) {
        ExpertInstance[] named = new ExpertInstance[placement.addresses().size()];
        for (int c = 0; c < named.length; c++) {
            named[c] = instances.get(key(placement.addresses().get(c), placement.instance(c)));
        }
        return new PlacementView(placement, named);
    }

    /** An open client's key: its address and the instance there (a new pod at an old address gets a new client). */
    private static String key(String address, String instance) {
        return address + " " + instance;
    }

    private ExpertInstance newInstance(ExpertClient client) {
        return new ExpertInstance(client, new InstanceBreaker(breakerOpenFor.toNanos(), System::nanoTime));
    }

    /** The view in use, held for one call; {@link #release} gives it back. */
    PlacementView hold() {
        while (true) {
            PlacementView v = view;
            if (v.tryHold()) return v;
            Thread.onSpinWait(); // it was replaced and let go just now: the next read finds its successor
        }
    }

    void release(PlacementView v) {
        if (v.release()) closeUnused();
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

    /** The expert services the placement in use names, in its order. */
    public List<ServiceState> services() {
        PlacementView v = view;
        List<ServiceState> states = new ArrayList<>(v.size());
        for (int c = 0; c < v.size(); c++) states.add(new ServiceState(v.client(c).address(), v.breaker(c).state()));
        return states;
    }

    @Override
    public void run(RoutedBatch batch) {
        submit(batch).await();
    }

    @Override
    public Pending submit(RoutedBatch batch) {
        return HealingCall.send(this, batch);
    }

    /**
     * How the sequences routed to an expert without a live replica heal ({@link HealingCall}).
     *
     * @param timeout      how long such a sequence waits for a placement that serves the expert; zero ends it at once
     * @param retryEvery   how often it tries again while no new placement comes (a holder may be back)
     * @param placed       whether a control plane places the experts, so that an expert no service holds may be
     *                     placed later; without one, the placement is a fixed list and such an expert never is
     */
    public record Healing(Duration timeout, Duration retryEvery, boolean placed) {
        static final Healing OFF = new Healing(Duration.ZERO, Duration.ofSeconds(1), false);

        public Healing {
            if (timeout.isNegative()) throw new IllegalArgumentException("a negative heal timeout: " + timeout);
            if (retryEvery.compareTo(Duration.ofMillis(10)) < 0) retryEvery = Duration.ofMillis(10);
        }

        /** Whether the sequences of a call that failed this way wait for a placement, rather than end at once. */
        boolean mayHeal(NoLiveReplicaException why) {
            if (timeout.isZero()) return false;
            if (why.placementVersion() == 0) return false; // not ready: nothing was ever placed
            return !why.heldByNone() || placed;
        }
    }

    /** Sets how calls heal; off (failing at once) until this is called. */
    public void healWith(Healing healing) {
        this.healing = healing;
    }

    Healing healing() {
        return healing;
    }

    /** Hears how each sequence's wait for its experts ended: healed or not, and how long it waited. */
    public interface HealListener {
        void ended(boolean healed, long waitedNanos);
    }

    /** Replaces the heal listener (one at a time). */
    public void whenHealEnds(HealListener listener) {
        this.healListener = listener;
    }

    /**
     * The placement version under which a heal last timed out, -1 when none did or a service's breaker has closed
     * since (it answers again).
     */
    long gaveUpUnder() {
        return gaveUpUnder;
    }

    void gaveUpUnder(long placementVersion) {
        gaveUpUnder = placementVersion;
    }

    void healEnded(boolean healed, long waitedNanos) {
        healListener.ended(healed, waitedNanos);
    }

    String fingerprint() {
        return fingerprint;
    }

    Duration timeout() {
        return timeout;
    }

    /** A service answered (a refusal about the request or the placement included): it is alive. */
    void answered(ExpertInstance instance, long arrivedNanos) {
        if (instance.breaker().answered(arrivedNanos)) {
            Log.infof("expert service %s answers again; breaker closed", instance.address());
            gaveUpUnder = -1; // a service is back: a heal may pay off again under the placement in use
        }
    }

    /**
     * A call to a service failed, or a probe found it unreachable: its breaker opens, and when it was closed, the
     * listener of {@link #whenUnreachable} hears of it.
     */
    void failed(ExpertInstance instance) {
        if (instance.breaker().failed()) {
            Log.warnf("expert service %s: breaker open; its replicas take its work for %d ms, then one call probes it",
                    instance.address(), breakerOpenFor.toMillis());
            unreachable.accept(instance.address());
        }
    }

    /**
     * Calls {@code listener} with a service's address each time its breaker opens (a broken stream, a timeout, a
     * malformed answer): news for a control plane, which need not wait for that service's missed heartbeats.
     */
    public void whenUnreachable(Consumer<String> listener) {
        unreachable = listener;
    }

    void callRetried() {
        callsRetried.incrementAndGet();
    }

    /** Disconnects every expert service. */
    @Override
    public synchronized void close() {
        for (ExpertInstance instance : instances.values()) instance.client().close();
        instances.clear();
    }
}
