package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.Instance;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.placement.Replica;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The control plane's {@code moemesh_control_plane_*} metrics. Series per instance and per expert group (not per
 * expert: DeepSeek-V3 has 58 × 256 of them), so their number grows with the mesh, not with the model.
 */
public final class ControlPlaneMetrics {
    private final MultiGauge plannedLoad;
    private final MultiGauge groupReplicas;
    private final MultiGauge groupLoad;
    private final int groupSize;
    private volatile double imbalance = 1.0;

    private ControlPlaneMetrics(ControlPlane cp, MeterRegistry registry) {
        this.groupSize = cp.options().expertGroupSize();
        Gauge.builder("moemesh.control.plane.placement.version", cp, c -> c.current().version())
                .description("version of the placement published last (0: none yet)").register(registry);
        Gauge.builder("moemesh.control.plane.leading", cp, c -> c.leading() ? 1 : 0)
                .description("1 while this orchestrator leads the control plane, 0 while it stands by for another"
                        + " (orchestrator.control-plane.election)").register(registry);
        Gauge.builder("moemesh.control.plane.placement.imbalance", this, m -> m.imbalance)
                .description("max/mean instance load of the published placement, summed over MoE layers, for the"
                        + " load it was planned for (1.0 = perfectly even)").register(registry);
        for (InstanceRole role : InstanceRole.values()) {
            for (boolean draining : new boolean[] {false, true}) {
                Gauge.builder("moemesh.control.plane.instances", cp, c -> count(c.instances(), role, draining))
                        .tags("role", role.name().toLowerCase(Locale.ROOT), "state", draining ? "draining" : "live")
                        .description("registered instances that heartbeat in time").register(registry);
            }
        }
        Gauge.builder("moemesh.control.plane.under.replicated.experts", cp, ControlPlane::underReplicated)
                .description("experts the published placement gives fewer replicas than min-replicas asks")
                .register(registry);
        FunctionCounter.builder("moemesh.control.plane.refused.plans", cp, ControlPlane::refusedPlans)
                .description("re-plans that could not place every expert: too few expert slots").register(registry);
        FunctionCounter.builder("moemesh.control.plane.dead.on.report", cp, ControlPlane::deadOnReport)
                .description("expert services taken for dead at once: an attention service reported them unreachable"
                        + " and they did not answer a probe either").register(registry);
        FunctionCounter.builder("moemesh.control.plane.failed.loads", cp, ControlPlane::failedLoads)
                .description("expert services left out because LoadExperts failed").register(registry);
        plannedLoad = MultiGauge.builder("moemesh.control.plane.instance.planned.load")
                .description("share of all routed rows the published placement sends to the expert service")
                .register(registry);
        groupReplicas = MultiGauge.builder("moemesh.control.plane.expert.group.desired.replicas")
                .description("replicas per expert of the group in the published placement, averaged over layers and"
                        + " experts: how much of the expert pool the planner gives the group").register(registry);
        groupLoad = MultiGauge.builder("moemesh.control.plane.expert.group.load.share")
                .description("share of all routed rows that go to the experts of the group").register(registry);
    }

    /** Registers the metrics of {@code cp} and keeps the per-placement ones current. */
    public static void register(ControlPlane cp, MeterRegistry registry) {
        ControlPlaneMetrics m = new ControlPlaneMetrics(cp, registry);
        cp.subscribe(m::published);
    }

    private static int count(List<Instance> instances, InstanceRole role, boolean draining) {
        return (int) instances.stream().filter(i -> i.role() == role && i.draining() == draining).count();
    }

    private void published(PublishedPlacement p) {
        var loads = p.plannedFor();
        imbalance = p.placement().imbalance(loads);
        double total = loads.values().stream().mapToDouble(Double::doubleValue).sum();
        List<MultiGauge.Row<?>> perInstance = new ArrayList<>();
        p.placement().instanceLoads(loads).forEach((instance, rows) ->
                perInstance.add(MultiGauge.Row.of(Tags.of("instance", instance), total == 0 ? 0 : rows / total)));
        plannedLoad.register(perInstance, true);

        Map<String, double[]> groups = new TreeMap<>(); // group -> {replicas, experts, rows}
        for (Map.Entry<ExpertId, List<Replica>> e : p.placement().experts().entrySet()) {
            double[] g = groups.computeIfAbsent(group(e.getKey().expert()), k -> new double[3]);
            g[0] += e.getValue().size();
            g[1]++;
            g[2] += loads.getOrDefault(e.getKey(), 0.0);
        }
        List<MultiGauge.Row<?>> replicas = new ArrayList<>();
        List<MultiGauge.Row<?>> share = new ArrayList<>();
        groups.forEach((group, g) -> {
            replicas.add(MultiGauge.Row.of(Tags.of("group", group), g[0] / g[1]));
            share.add(MultiGauge.Row.of(Tags.of("group", group), total == 0 ? 0 : g[2] / total));
        });
        groupReplicas.register(replicas, true);
        groupLoad.register(share, true);
    }

    private String group(int expert) {
        int first = expert / groupSize * groupSize;
        return first + "-" + (first + groupSize - 1);
    }
}
