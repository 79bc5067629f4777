package dev.moemesh.orchestrator.membership;


import dev.moemesh.core.moe.ExpertId;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The registry of the mesh's instances: who is registered, what each expert service holds and can hold, whether it
 * still heartbeats, and the rows per expert their heartbeats report. All instances serve one model; the first
 * fingerprint the control plane learns (from {@code orchestrator.model-dir}, else the first registration) is the
 * only one it accepts. Thread-safe.
 */
public final class Membership {
    private final Clock clock;
    private final Duration heartbeatDeadline;
    private final ExpertLoadMeter loads;
    private final TreeMap<String, Instance> instances = new TreeMap<>();
    private final TreeSet<ExpertId> experts = new TreeSet<>();
    private ServedModel model;

    /**
     * @param heartbeatDeadline how long an instance may go without a heartbeat before it is taken for dead
     * @param loadHalfLife      how fast reported rows lose weight ({@link ExpertLoadMeter})
     * @param model             the served model when the orchestrator knows it; empty: the first registration's
     */
    public Membership(Clock clock, Duration heartbeatDeadline, Duration loadHalfLife, Optional<ServedModel> model) {
        this.clock = clock;
        this.heartbeatDeadline = heartbeatDeadline;
        this.loads = new ExpertLoadMeter(loadHalfLife);
        this.model = model.orElse(null);
        model.ifPresent(m -> experts.addAll(m.experts()));
    }

    /**
     * Adds the instance, or replaces what was known of it (an instance that restarted or missed its heartbeats).
     *
     * @throws ModelMismatchException when it serves another model than the mesh
     * @throws IllegalArgumentException when its id is registered in another role: two processes share the id
     */
    public synchronized Instance register(Registration r) {
        Instance known = instances.get(r.instanceId());
        if (known != null && known.role() != r.role()) {
            // replacing it would drop a live expert service whose heartbeats still find its id, and leave the
            // placement routing to an instance no longer registered as one
            throw new IllegalArgumentException("instance '" + r.instanceId() + "' is registered as " + label(known.role())
                    + " at " + known.address() + "; it cannot register again as " + label(r.role()) + " until that"
                    + " one misses its heartbeats: give every process an instance id of its own");
        }
        acceptModel("instance '" + r.instanceId() + "'", r.modelFingerprint(),
                "the fingerprint instance '" + r.instanceId() + "' registered with first");
        for (ExpertId e : r.held()) {
            if (!inModel(e)) {
                throw new IllegalArgumentException("instance '" + r.instanceId() + "' says it holds layer " + e.layer()
                        + " expert " + e.expert() + ", which is not a routed expert of the served model ("
                        + model.source() + ")");
            }
        }
        Instance instance = new Instance(r, r.held(), clock.instant(), false, 0);
        instances.put(r.instanceId(), instance);
        experts.addAll(r.held());
        return instance;
    }

    /**
     * Refuses a watcher of another model than the mesh's. A watcher never decides the model: WatchPlacement is open
     * to roles that may not register (a router, an operator's tool), and the first fingerprint would lock every
     * expert service of the real model out; one that comes before the model is known is let in, and checked again
     * against the fingerprint of each placement it is sent.
     *
     * @throws ModelMismatchException when {@code fingerprint} is not the mesh's
     */
    public synchronized void acceptWatcher(String instanceId, String fingerprint) {
        if (fingerprint == null || fingerprint.isBlank()) {
            throw new IllegalArgumentException("watcher '" + instanceId + "' gives no model_fingerprint");
        }
        if (model != null && !model.fingerprint().equals(fingerprint)) {
            throw new ModelMismatchException("watcher '" + instanceId + "'", fingerprint, model);
        }
    }

    private static String label(InstanceRole role) {
        return switch (role) {
            case EXPERT -> "an expert service";
            case ATTENTION -> "an attention service";
            case ROUTER -> "a router";
        };
    }

    private void acceptModel(String who, String fingerprint, String source) {
        if (model == null) model = new ServedModel(fingerprint, source, new TreeSet<>());
        if (!model.fingerprint().equals(fingerprint)) throw new ModelMismatchException(who, fingerprint, model);
    }

    /**
     * Records a heartbeat, the rows per expert it reports (expert services) and the placement version it routes
     * with (attention services; 0 from expert services).
     *
     * @return false when the instance is not registered (it must register again); its rows are then ignored
     */
    public synchronized boolean heartbeat(String instanceId, Map<ExpertId, Long> rows, long placementInUse) {
        Instance known = instances.get(instanceId);
        if (known == null) return false;
        Instant now = clock.instant();
        instances.put(instanceId, known.heartbeat(now, placementInUse));
        rows.forEach((expert, n) -> {
            if (n > 0 && experts.contains(expert)) loads.add(expert, n, now); // what no plan places weighs nothing
        });
        return true;
    }

    /** Removes and returns the instances whose last heartbeat is older than the deadline. */
    public synchronized List<Instance> expire() {
        Instant oldest = clock.instant().minus(heartbeatDeadline);
        List<Instance> dead = new ArrayList<>();
        for (Instance i : List.copyOf(instances.values())) {
            if (i.lastHeartbeat().isBefore(oldest)) {
                instances.remove(i.id());
                dead.add(i);
            }
        }
        return dead;
    }

    /** Removes an instance (e.g. one that failed to load experts); it is unknown until it registers again. */
    public synchronized Optional<Instance> remove(String instanceId) {
        return Optional.ofNullable(instances.remove(instanceId));
    }

    /**
     * Marks an instance draining (taken out of the placement) or not.
     *
     * @throws UnknownInstanceException when it is not registered
     */
    public synchronized Instance drain(String instanceId, boolean draining) {
        Instance known = instances.get(instanceId);
        if (known == null) throw new UnknownInstanceException(instanceId);
        Instance changed = known.draining(draining);
        instances.put(instanceId, changed);
        return changed;
    }

    /** Records what an expert service holds now (as its LoadExperts or UnloadExperts answer says). */
    public synchronized void holds(String instanceId, Set<ExpertId> held) {
        Instance known = instances.get(instanceId);
        Set<ExpertId> ofModel = new TreeSet<>();
        for (ExpertId e : held) if (inModel(e)) ofModel.add(e);
        if (known != null) instances.put(instanceId, known.holding(ofModel));
        experts.addAll(ofModel);
    }

    /**
     * Whether {@code e} is a routed expert of the served model: any expert while the model's experts are unknown
     * (no {@code orchestrator.model-dir}: the registrations tell them), else one of them, so that an instance cannot
     * make the mesh place experts that do not exist.
     */
    private boolean inModel(ExpertId e) {
        return model == null || model.experts().isEmpty() || model.experts().contains(e);
    }

    /**
     * The instance's peers: the registered, not draining, instances of its role, itself counted among them even when
     * draining; its rank is its place among them by instance id (a draining one comes last).
     *
     * @return empty when the instance is not registered
     */
    public synchronized Optional<PeerShare> peers(String instanceId) {
        Instance self = instances.get(instanceId);
        if (self == null) return Optional.empty();
        int count = 0;
        int rank = 0;
        for (Instance i : instances.values()) { // by id
            if (i.role() != self.role() || (i.draining() && i != self)) continue;
            if (i.id().compareTo(instanceId) < 0) rank++;
            count++;
        }
        return Optional.of(self.draining() ? new PeerShare(count, count - 1) : new PeerShare(count, rank));
    }

    /** The registered instances, by id. */
    public synchronized List<Instance> instances() {
        return List.copyOf(instances.values());
    }

    public synchronized Optional<Instance> instance(String instanceId) {
        return Optional.ofNullable(instances.get(instanceId));
    }

    /**
     * Rows per expert, decayed, for every routed expert known (the model's and every expert service's), plus one:
     * an expert nobody used yet still takes a slot, and an idle mesh is planned as a uniform one.
     */
    public synchronized SortedMap<ExpertId, Double> expertLoads() {
        Instant now = clock.instant();
        TreeMap<ExpertId, Double> out = new TreeMap<>();
        for (ExpertId e : experts) out.put(e, loads.load(e, now) + 1);
        return out;
    }

    /** The fingerprint of the served model, once known. */
    public synchronized Optional<String> modelFingerprint() {
        return Optional.ofNullable(model).map(ServedModel::fingerprint);
    }
}
