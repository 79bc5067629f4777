package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.Instance;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.Membership;
import dev.moemesh.orchestrator.placement.ExpertPlacement;
import dev.moemesh.tls.MeshChannels;
import io.grpc.Status;
import org.jboss.logging.Logger;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What each expert service holds, made to follow the placement: LoadExperts of a plan's new experts before it is
 * published, UnloadExperts of what the published one no longer uses once the attention services route with it.
 * Runs on the control plane's worker thread.
 */
final class ExpertHoldings implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ExpertHoldings.class);

    private final ControlPlaneOptions options;
    private final Clock clock;
    private final Membership membership;
    private final PlacementStream placements;
    private final ExpertServiceClients experts;
    private final AtomicLong failedLoads = new AtomicLong();
    private long unloadWaitWarnedFor; // the version whose laggards were last logged

    ExpertHoldings(ControlPlaneOptions options, Clock clock, Membership membership, PlacementStream placements,
                   MeshChannels channels) {
        this.experts = new ExpertServiceClients(channels);
        this.options = options;
        this.clock = clock;
        this.membership = membership;
        this.placements = placements;
    }

    /** Expert services left out because LoadExperts failed on them, since start. */
    long failedLoads() {
        return failedLoads.get();
    }

    /** Probes an expert service (Describe within {@code timeout}): completes with null when it answers, else why not. */
    CompletableFuture<Status> probe(String address, Duration timeout) {
        return experts.probe(address, timeout);
    }

    /** Drops the channel to an expert service that is gone. */
    void forget(String address) {
        experts.forget(address);
    }

    /** LoadExperts on every service the plan gives experts it does not hold, all at once; returns those that failed. */
    List<Instance> loadNewExperts(ExpertPlacement plan, List<Instance> live) {
        Map<Instance, Future<Set<ExpertId>>> calls = new TreeMap<>((a, b) -> a.id().compareTo(b.id()));
        try (ExecutorService calling = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Instance i : live) {
                TreeSet<ExpertId> missing = new TreeSet<>(plan.heldBy(i.id()));
                missing.removeAll(i.held());
                if (missing.isEmpty()) continue;
                LOG.infof("expert service '%s' loads %d experts: %s", i.id(), missing.size(), missing);
                calls.put(i, calling.submit(() -> experts.load(i.address(), missing, options.expertLoadTimeout())));
            }
        }
        List<Instance> failed = new ArrayList<>();
        calls.forEach((i, call) -> {
            try {
                membership.holds(i.id(), call.get());
            } catch (ExecutionException e) {
                failedLoads.incrementAndGet();
                failed.add(i);
                LOG.warnf("expert service '%s' at %s could not load its new experts (%s): left out until it"
                        + " registers again", i.id(), i.address(), e.getCause().getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while expert services load experts");
            }
        });
        return failed;
    }

    /**
     * UnloadExperts of what expert services hold but the placement does not use, once every registered attention
     * service has said in a heartbeat that it routes with this placement and the grace period is over (a layer call
     * that started under the one before may still be under way) — or, for an attention service that does not switch,
     * once {@link ControlPlaneOptions#unloadWaitLimit()} is over; its later calls to those experts are refused
     * {@code NOT_FOUND} and re-sent to replicas.
     */
    void unloadUnused() {
        PublishedPlacement published = placements.current();
        if (published.version() == 0) return; // nothing placed yet: every expert held is still wanted somewhere
        Duration since = Duration.between(placements.publishedAt(), clock.instant());
        if (since.compareTo(options.unloadGrace()) < 0) return;
        ExpertPlacement plan = published.placement();
        List<Instance> members = membership.instances();
        Map<Instance, TreeSet<ExpertId>> unusedBy = new LinkedHashMap<>();
        for (Instance i : members) {
            // a service the placement does not use yet (it registered after it was planned) keeps what it holds
            if (i.role() != InstanceRole.EXPERT || !plan.instances().contains(i.id())) continue;
            TreeSet<ExpertId> unused = new TreeSet<>(i.held());
            unused.removeAll(plan.heldBy(i.id()));
            if (!unused.isEmpty()) unusedBy.put(i, unused);
        }
        if (unusedBy.isEmpty()) return;
        List<String> behind = members.stream()
                .filter(i -> i.role() == InstanceRole.ATTENTION && i.placementInUse() < published.version())
                .map(i -> i.id() + " (version " + i.placementInUse() + ")").toList();
        if (!behind.isEmpty()) {
            if (since.compareTo(options.unloadWaitLimit()) < 0) return;
            if (unloadWaitWarnedFor != published.version()) {
                unloadWaitWarnedFor = published.version();
                LOG.warnf("attention services %s have not reported placement %d within %d ms; unloading the experts"
                        + " it no longer uses anyway", behind, published.version(), options.unloadWaitLimit().toMillis());
            }
        }
        for (var entry : unusedBy.entrySet()) {
            Instance i = entry.getKey();
            TreeSet<ExpertId> unused = entry.getValue();
            try {
                membership.holds(i.id(), experts.unload(i.address(), unused, options.expertLoadTimeout()));
                LOG.infof("expert service '%s' unloaded %d experts it no longer serves: %s", i.id(), unused.size(),
                        unused);
            } catch (RuntimeException e) {
                LOG.warnf("expert service '%s' at %s could not unload %s (%s); it keeps them for now", i.id(),
                        i.address(), unused, e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        experts.close();
    }
}
