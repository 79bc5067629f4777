package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.Instance;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.Membership;
import dev.moemesh.orchestrator.membership.ModelMismatchException;
import dev.moemesh.orchestrator.membership.PeerShare;
import dev.moemesh.orchestrator.membership.Registration;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.orchestrator.membership.UnknownInstanceException;
import dev.moemesh.orchestrator.placement.ExpertPlacement;
import dev.moemesh.orchestrator.placement.InstanceCapacity;
import dev.moemesh.orchestrator.placement.InsufficientSlotsException;
import dev.moemesh.orchestrator.placement.PlacementPlanner;
import dev.moemesh.orchestrator.placement.Replica;
import dev.moemesh.tls.MeshChannels;
import io.grpc.Status;
import org.jboss.logging.Logger;

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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * The orchestrator's control plane: the {@link Membership} of the mesh, and the re-plans of its routed experts
 * ({@link PlacementPlanner}): what triggers one, the settling before the first, and when a plan is published to
 * the {@link PlacementStream}; what the expert services hold follows through {@link ExpertHoldings}. One worker
 * thread plans, loads, publishes and expires, so placements come out one at a time and in order; gRPC threads only
 * record membership and queue a re-plan.
 */
public final class ControlPlane implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ControlPlane.class);
    private static final Duration SHORTEST_PROBE = Duration.ofSeconds(1);
    private static final Duration LONGEST_PROBE = Duration.ofSeconds(5);

    /** What asked for a re-plan, which decides when its result is published. */
    private enum Trigger {
        /** an expert service came, went or drained: publish whatever changes */
        MEMBERSHIP,
        /** the periodic look at the load: publish only if max/mean improves by {@code min-improvement} */
        LOAD,
        /** a Drain call: publish, or fail the call when the others cannot hold the experts */
        DRAIN
    }

    private final ControlPlaneOptions options;
    private final Clock clock;
    private final Membership membership;
    private final PlacementPlanner planner;
    private final PlacementStream placements;
    private final ExpertHoldings holdings;
    private final ScheduledExecutorService worker;
    private final AtomicBoolean replanQueued = new AtomicBoolean();
    private final AtomicLong refusedPlans = new AtomicLong();
    private final AtomicLong deadOnReport = new AtomicLong();
    private final Set<String> probing = ConcurrentHashMap.newKeySet(); // addresses probed now on a report
    private volatile int underReplicated;
    private volatile boolean leading = true;     // false: another orchestrator leads; every call is refused
    private volatile Instant termStartedAt;      // since when this one leads: the settle time counts from it
    // the worker's own
    private String lastRefusal;       // why the last plan could not place every expert; null once one could
    private boolean settleScheduled;
    private boolean settled;

    private ControlPlane(ControlPlaneOptions options, Optional<ServedModel> model, Clock clock, MeshChannels channels) {
        this.options = options;
        this.clock = clock;
        this.membership = new Membership(clock, options.heartbeatDeadline(), options.loadHalfLife(), model);
        this.planner = new PlacementPlanner(options.minReplicas(), options.redundantReplicas(), options.moveTolerance());
        this.placements = new PlacementStream(PublishedPlacement.none(model.map(ServedModel::fingerprint).orElse("")),
                clock);
        this.holdings = new ExpertHoldings(options, clock, membership, placements, channels);
        this.termStartedAt = clock.instant();
        this.worker = Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().daemon().name("control-plane").unstarted(r));
    }

    /**
     * A control plane that expires instances and unloads unused experts every heartbeat interval, and re-plans from
     * the load every rebalance interval.
     *
     * @param model the served model when the orchestrator knows it ({@code orchestrator.model-dir}); empty: the
     *              first registration decides
     */
    public static ControlPlane start(ControlPlaneOptions options, Optional<ServedModel> model, Clock clock) {
        return start(options, model, clock, MeshChannels.PLAINTEXT);
    }

    /** @param channels how it reaches the expert services (LoadExperts, UnloadExperts): plaintext or mutual TLS */
    public static ControlPlane start(ControlPlaneOptions options, Optional<ServedModel> model, Clock clock,
                                     MeshChannels channels) {
        ControlPlane cp = new ControlPlane(options, model, clock, channels);
        long beat = options.heartbeatInterval().toMillis();
        cp.worker.scheduleWithFixedDelay(cp.guarded("expiry", cp::expire), beat, beat, TimeUnit.MILLISECONDS);
        cp.worker.scheduleWithFixedDelay(cp.guarded("unload", () -> {
            if (cp.leading) cp.holdings.unloadUnused();
        }), beat, beat, TimeUnit.MILLISECONDS);
        long rebalance = options.rebalanceInterval().toMillis();
        cp.worker.scheduleWithFixedDelay(cp.guarded("load re-plan", () -> cp.replan("load", Trigger.LOAD)),
                rebalance, rebalance, TimeUnit.MILLISECONDS);
        return cp;
    }

    public ControlPlaneOptions options() {
        return options;
    }

    /** Whether this orchestrator leads the control plane; one that stands by refuses every call. */
    public boolean leading() {
        return leading;
    }

    /**
     * Another orchestrator leads from now on ({@code orchestrator.control-plane.election}): this one refuses every
     * call, ends its placement watches (their members go to the leader), forgets its instances (they register with the
     * leader) and its placement (another leader's are newer), and stops expiring, unloading and planning, so that it
     * never acts on expert services another placement uses.
     */
    public void standBy(String why) {
        if (!leading) return;
        leading = false;
        worker.execute(guarded("stand by", () -> {
            for (Instance i : membership.instances()) {
                membership.remove(i.id());
                if (i.role() == InstanceRole.EXPERT) holdings.forget(i.address());
            }
            placements.endAll(new IllegalStateException(STANDING_BY),
                    PublishedPlacement.none(placements.current().modelFingerprint()));
            LOG.warnf("this orchestrator's control plane stands by (%s): it refuses every call, and its members go to"
                    + " the orchestrator that leads", why);
        }));
    }

    /** Why a control plane that stands by refuses a call. */
    public static final String STANDING_BY = "this orchestrator's control plane stands by: another orchestrator leads"
            + " (orchestrator.control-plane.election); try the next one";

    /**
     * This orchestrator leads from now on: it takes calls again and starts a term of its own, whose first placement
     * waits (up to {@code settle-time}) for the expert services that register with it to hold every expert between
     * them, as at start; placement versions go on from the clock, past any the last leader published.
     */
    public void lead(String why) {
        worker.execute(guarded("lead", () -> {
            if (leading) return;
            termStartedAt = clock.instant();
            settled = false;
            settleScheduled = false;
            leading = true;
            LOG.infof("this orchestrator leads the control plane now (%s)", why);
        }));
    }

    /**
     * Adds (or renews) an instance; an expert service's arrival queues a re-plan.
     *
     * @return the version of the placement published now
     */
    public long register(Registration registration) {
        Instance instance = membership.register(registration);
        LOG.infof("instance '%s' registered: %s at %s, %d experts held, %s expert slots", instance.id(),
                instance.role(), instance.address(), instance.held().size(),
                registration.expertSlots() == 0 ? "unlimited" : registration.expertSlots());
        if (instance.role() == InstanceRole.EXPERT) queueReplan("instance '" + instance.id() + "' registered");
        return placements.current().version();
    }

    /**
     * Records a heartbeat with the rows per expert it reports (expert services) or the placement version it routes
     * with (attention services).
     *
     * @return false when the instance is unknown and must register again
     */
    public boolean heartbeat(String instanceId, Map<ExpertId, Long> rows, long placementInUse) {
        return membership.heartbeat(instanceId, rows, placementInUse);
    }

    /**
     * An attention service's calls to the expert service at {@code address} fail: probes it at once (Describe within
     * {@link #probeTimeout}) and, when it does not answer either, takes every instance registered there for dead and
     * re-plans without them, as their missed heartbeats would only later. A service that answers stays;
     * one taken for dead by mistake is told so at its next heartbeat and registers again.
     *
     * @return whether {@code address} is a registered expert service, now probed (or already being probed)
     */
    public boolean reportUnreachable(String reporterId, String address, String reason) {
        // every instance registered there: one that restarted under a new id may not have expired yet
        List<String> suspects = membership.instances().stream()
                .filter(i -> i.role() == InstanceRole.EXPERT && i.address().equals(address)).map(Instance::id).toList();
        if (suspects.isEmpty()) return false;
        if (!probing.add(address)) return true;
        Duration timeout = probeTimeout(options);
        holdings.probe(address, timeout).whenComplete((failure, e) -> {
            probing.remove(address);
            if (failure == null && e == null) {
                LOG.infof("'%s' reports expert service %s at %s unreachable (%s), but it answers here: kept",
                        reporterId, suspects, address, reason);
                return;
            }
            if (failure != null && failure.getCode() == Status.Code.CANCELLED) return; // closing: no verdict
            worker.execute(guarded("dead on report", () -> takeForDead(suspects, address, reporterId, reason,
                    failure != null ? failure.getCode() + (failure.getDescription() == null ? "" : ": "
                            + failure.getDescription()) : String.valueOf(e))));
        });
        return true;
    }

    /**
     * A probe's deadline: the heartbeat deadline, within 1 to 5 s (a service that cannot describe itself in 5 s is
     * of no use to its callers either).
     */
    static Duration probeTimeout(ControlPlaneOptions options) {
        Duration d = options.heartbeatDeadline();
        if (d.compareTo(LONGEST_PROBE) > 0) return LONGEST_PROBE;
        return d.compareTo(SHORTEST_PROBE) < 0 ? SHORTEST_PROBE : d;
    }

    private void takeForDead(List<String> suspects, String address, String reporterId, String reason, String probe) {
        List<String> dead = new ArrayList<>();
        for (String id : suspects) {
            Optional<Instance> still = membership.instance(id);
            if (still.isEmpty() || !still.get().address().equals(address)) continue; // gone or elsewhere meanwhile
            membership.remove(id);
            dead.add(id);
            deadOnReport.incrementAndGet();
        }
        if (dead.isEmpty()) return;
        holdings.forget(address);
        String names = dead.stream().map(id -> "'" + id + "'").collect(Collectors.joining(", "));
        LOG.warnf("instance %s (expert service at %s) taken for dead: '%s' reports it unreachable (%s) and it does"
                + " not answer a probe either (%s)", names, address, reporterId, reason, probe);
        replan(names + " reported dead", Trigger.MEMBERSHIP);
    }

    /** Expert services taken for dead on an attention service's report (before their heartbeat deadline), since start. */
    public long deadOnReport() {
        return deadOnReport.get();
    }

    /**
     * Takes an instance out of the placement and returns once a placement without it is published.
     *
     * @return that placement's version
     * @throws UnknownInstanceException when it is not registered
     * @throws InsufficientSlotsException when the other instances cannot hold every expert (it is not drained; an
     *                                     instance that failed to load experts on the way is out of the placement)
     */
    public long drain(String instanceId) {
        Optional<Instance> known = membership.instance(instanceId);
        if (known.isPresent() && known.get().role() == InstanceRole.ROUTER) {
            // a router is in no placement: draining is leaving, so that its peers take back its share at once
            membership.remove(instanceId);
            LOG.infof("router '%s' left", instanceId);
            return placements.current().version();
        }
        Future<Long> done = worker.submit(() -> {
            membership.drain(instanceId, true);
            try {
                replan("instance '" + instanceId + "' drains", Trigger.DRAIN);
            } catch (InsufficientSlotsException e) {
                membership.drain(instanceId, false);
                // the drain is refused, but an instance left out on the way (its LoadExperts failed) is gone all
                // the same: the placement must stop routing to it before the refusal is answered
                replan("instance '" + instanceId + "' cannot drain", Trigger.MEMBERSHIP);
                throw e;
            }
            return placements.current().version();
        });
        try {
            return done.get(options.expertLoadTimeout().multipliedBy(2).toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("draining '" + instanceId + "' did not finish within "
                    + options.expertLoadTimeout().multipliedBy(2).toSeconds() + " s; see the orchestrator's log");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while draining '" + instanceId + "'");
        }
    }

    /** The instance's peers of its role ({@link Membership#peers}); empty when it is not registered. */
    public Optional<PeerShare> peers(String instanceId) {
        return membership.peers(instanceId);
    }

    /**
     * Calls {@code listener} with the current placement at once, then with each new version, in order, once each.
     * A watcher that came before the model was known, of another model than the first registration brought, is
     * sent none of its placements: {@code refused} is called instead, once, and the watch ends; so it is when this
     * control plane stands by ({@link #standBy}), with an {@link IllegalStateException} saying so.
     *
     * @throws ModelMismatchException when the watcher serves another model
     */
    public PlacementStream.Subscription watch(String watcherId, String modelFingerprint,
                                              Consumer<PublishedPlacement> listener,
                                              Consumer<RuntimeException> refused) {
        membership.acceptWatcher(watcherId, modelFingerprint);
        return placements.subscribe(p -> {
            if (p.version() != 0 && !p.modelFingerprint().equals(modelFingerprint)) {
                try {
                    membership.acceptWatcher(watcherId, modelFingerprint); // the model is known now: it refuses
                } catch (ModelMismatchException e) {
                    refused.accept(e);
                    throw e; // ends the subscription
                }
            }
            listener.accept(p.version() == 0 ? PublishedPlacement.none(modelFingerprint) : p);
        }, refused);
    }

    /** Calls {@code listener} with the current placement at once, then with each new version, in order, once each. */
    public PlacementStream.Subscription subscribe(Consumer<PublishedPlacement> listener) {
        return placements.subscribe(listener);
    }

    /** The placement published last (version 0 before the first). */
    public PublishedPlacement current() {
        return placements.current();
    }

    public List<Instance> instances() {
        return membership.instances();
    }

    /** Re-plans that could not place every expert (too few slots), since start. */
    public long refusedPlans() {
        return refusedPlans.get();
    }

    /** Experts the placement published last gives fewer than {@code min-replicas} replicas. */
    public int underReplicated() {
        return underReplicated;
    }

    /** Expert services left out because LoadExperts failed on them, since start. */
    public long failedLoads() {
        return holdings.failedLoads();
    }

    private void queueReplan(String reason) {
        if (replanQueued.compareAndSet(false, true)) {
            worker.execute(guarded("re-plan", () -> {
                replanQueued.set(false);
                replan(reason, Trigger.MEMBERSHIP);
            }));
        }
    }

    private void expire() {
        if (!leading) return;
        List<Instance> dead = membership.expire();
        for (Instance i : dead) {
            LOG.warnf("instance '%s' (%s at %s) sent no heartbeat for over %d ms: taken for dead", i.id(), i.role(),
                    i.address(), options.heartbeatDeadline().toMillis());
            if (i.role() == InstanceRole.EXPERT) holdings.forget(i.address());
        }
        String deadExperts = dead.stream().filter(i -> i.role() == InstanceRole.EXPERT).map(i -> "'" + i.id() + "'")
                .collect(Collectors.joining(", "));
        if (!deadExperts.isEmpty()) replan(deadExperts + " died", Trigger.MEMBERSHIP);
    }

    /**
     * Plans from the live expert services and the load, asks the services to load what is new to them, and
     * publishes. A service whose LoadExperts fails is left out (it is unknown until it registers again) and the
     * plan is made again without it.
     */
    private void replan(String reason, Trigger trigger) {
        if (!leading) return;
        while (true) {
            List<Instance> live = membership.instances().stream().filter(i -> i.role() == InstanceRole.EXPERT).toList();
            SortedMap<ExpertId, Double> loads = membership.expertLoads();
            PublishedPlacement before = placements.current();
            ExpertPlacement held = held(live);
            if (trigger != Trigger.DRAIN && settling(held, loads)) return;
            ExpertPlacement plan;
            try {
                plan = planner.plan(loads, live.stream().map(ControlPlane::capacity).toList(), held);
                lastRefusal = null;
            } catch (InsufficientSlotsException e) {
                refusedPlans.incrementAndGet();
                if (trigger == Trigger.DRAIN) throw e;
                // logged once while it stays so (the periodic re-plan would repeat it every rebalance interval)
                boolean again = e.getMessage().equals(lastRefusal);
                lastRefusal = e.getMessage();
                LOG.logf(again ? Logger.Level.DEBUG : Logger.Level.WARN, "cannot place every expert after %s: %s; the"
                        + " placement keeps what is still alive", reason, e.getMessage());
                Set<String> serving = live.stream().filter(i -> !i.draining()).map(Instance::id)
                        .collect(Collectors.toSet());
                plan = before.placement().retainInstances(serving);
            }
            SortedMap<String, String> addresses = new TreeMap<>();
            for (Instance i : live) if (plan.instances().contains(i.id())) addresses.put(i.id(), i.address());
            if (before.routesAs(plan, addresses)) return;
            if (trigger == Trigger.LOAD) {
                double now = before.placement().imbalance(loads);
                double planned = plan.imbalance(loads);
                if (planned > now * (1 - options.minImprovement())) return;
                reason = "load (max/mean %.3f -> %.3f)".formatted(now, planned);
            }
            List<Instance> failed = holdings.loadNewExperts(plan, live);
            if (failed.isEmpty()) {
                publish(plan, addresses, loads, reason + ", " + plan.movedReplicas(held) + " replicas loaded");
                return;
            }
            for (Instance i : failed) {
                membership.remove(i.id());
                holdings.forget(i.address());
            }
            // the next plan is published whatever it does to the balance: the placement must not keep routing to
            // instances no longer registered (a refused drain re-plans for the same reason)
            if (trigger == Trigger.LOAD) trigger = Trigger.MEMBERSHIP;
        }
    }

    /**
     * Whether the first placement still waits ({@code settle-time} after start) for expert services that hold the
     * experts the registered ones do not, so none is asked to load another's share; a re-plan is scheduled for the
     * moment the wait ends.
     */
    private boolean settling(ExpertPlacement held, SortedMap<ExpertId, Double> loads) {
        // the timer's end and the clock's can differ by a millisecond: once the timer has fired, the wait is over
        // a placement of this term: standing by forgets the last one (version 0 again)
        if (settled || placements.current().version() != 0 || options.settleTime().isZero()) return false;
        Duration left = Duration.between(clock.instant(), termStartedAt.plus(options.settleTime()));
        if (left.isNegative() || left.isZero() || held.experts().keySet().containsAll(loads.keySet())) return false;
        if (!settleScheduled) {
            settleScheduled = true;
            LOG.infof("the expert services registered so far hold %d of %d experts: the first placement waits up to"
                    + " %d ms (settle-time) for the others", held.experts().size(), loads.size(), left.toMillis());
            worker.schedule(guarded("settled re-plan", () -> {
                settled = true;
                replan("the settle time is over", Trigger.MEMBERSHIP);
            }), left.toMillis(), TimeUnit.MILLISECONDS);
        }
        return true;
    }

    /** What the expert services hold in memory, as a placement: where an expert stays without LoadExperts. */
    private static ExpertPlacement held(List<Instance> live) {
        TreeMap<ExpertId, List<Replica>> held = new TreeMap<>();
        for (Instance i : live) {
            for (ExpertId e : i.held()) held.computeIfAbsent(e, x -> new ArrayList<>()).add(new Replica(i.id(), 1));
        }
        return new ExpertPlacement(held);
    }

    private static InstanceCapacity capacity(Instance i) {
        int slots = i.registration().expertSlots();
        return new InstanceCapacity(i.id(), i.draining() ? 0 : slots == 0 ? Integer.MAX_VALUE : slots);
    }

    private void publish(ExpertPlacement plan, SortedMap<String, String> addresses, SortedMap<ExpertId, Double> loads,
                         String reason) {
        PublishedPlacement before = placements.current();
        // milliseconds of the clock when larger: versions keep increasing across orchestrator restarts
        long version = Math.max(before.version() + 1, clock.millis());
        String fingerprint = membership.modelFingerprint().orElse(before.modelFingerprint());
        PublishedPlacement next = new PublishedPlacement(version, fingerprint, plan, addresses, loads);
        LOG.infof("placement %d after %s: %d replicas of %d experts on %d expert services, %d not in the one"
                        + " before; max/mean %.3f", version, reason,
                plan.experts().values().stream().mapToInt(List::size).sum(), plan.experts().size(),
                plan.instances().size(), plan.movedReplicas(before.placement()), plan.imbalance(loads));
        warnIfUnderReplicated(plan, version);
        placements.publish(next);
    }

    /**
     * Says (a WARN, and {@link #underReplicated}) when some experts have fewer replicas than {@code min-replicas}:
     * one dead expert service then leaves them unserved until they are placed again.
     */
    private void warnIfUnderReplicated(ExpertPlacement plan, long version) {
        List<ExpertId> few = plan.experts().entrySet().stream()
                .filter(e -> e.getValue().size() < options.minReplicas()).map(Map.Entry::getKey).toList();
        underReplicated = few.size();
        if (few.isEmpty()) return;
        LOG.warnf("placement %d gives %d of %d experts fewer than the %d replicas asked"
                        + " (orchestrator.control-plane.min-replicas), e.g. layer:expert %s: one expert service that"
                        + " dies leaves them without a replica until they are placed again; add an expert service or"
                        + " raise its expert_slots", version, few.size(), plan.experts().size(), options.minReplicas(),
                few.subList(0, Math.min(8, few.size())).stream().map(e -> e.layer() + ":" + e.expert()).toList());
    }

    private Runnable guarded(String what, Runnable task) {
        return () -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                LOG.errorf(e, "control plane %s failed", what);
            }
        };
    }

    @Override
    public void close() {
        worker.shutdownNow();
        try {
            worker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        holdings.close();
    }
}
