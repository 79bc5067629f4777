package dev.moemesh.orchestrator.placement;

import dev.moemesh.core.moe.ExpertId;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which instances serve each logical expert, and each replica's share of that expert's rows: the planner's output
 * and the content of a published placement.
 *
 * <p>Load figures weigh an expert's load by its replicas' shares. The <em>imbalance</em> of a placement under some
 * loads is {@code Σ_layer max_instance load / Σ_layer mean_instance load} over the instances in the placement: every
 * MoE layer waits for its slowest instance, so this is how much longer the routed experts take than with perfect
 * balance (1.0).
 */
public record ExpertPlacement(SortedMap<ExpertId, List<Replica>> experts) {
    /** No expert placed anywhere. */
    public static final ExpertPlacement NONE = new ExpertPlacement(new TreeMap<>());

    public ExpertPlacement {
        TreeMap<ExpertId, List<Replica>> copy = new TreeMap<>();
        experts.forEach((e, replicas) -> copy.put(e, List.copyOf(replicas)));
        experts = Collections.unmodifiableSortedMap(copy);
    }

    /** The instances with at least one replica. */
    public SortedSet<String> instances() {
        TreeSet<String> ids = new TreeSet<>();
        experts.values().forEach(rs -> rs.forEach(r -> ids.add(r.instance())));
        return ids;
    }

    /** The experts with a replica on {@code instance}. */
    public SortedSet<ExpertId> heldBy(String instance) {
        TreeSet<ExpertId> held = new TreeSet<>();
        experts.forEach((e, rs) -> {
            if (rs.stream().anyMatch(r -> r.instance().equals(instance))) held.add(e);
        });
        return held;
    }

    /** The same placement without replicas on instances outside {@code instances}; experts may be left with none. */
    public ExpertPlacement retainInstances(Set<String> instances) {
        TreeMap<ExpertId, List<Replica>> kept = new TreeMap<>();
        experts.forEach((e, rs) -> kept.put(e, rs.stream().filter(r -> instances.contains(r.instance())).toList()));
        return new ExpertPlacement(kept);
    }

    /** How many replicas of this placement are not in {@code before} (same expert on the same instance). */
    public int movedReplicas(ExpertPlacement before) {
        int moved = 0;
        for (var entry : experts.entrySet()) {
            List<Replica> old = before.experts.getOrDefault(entry.getKey(), List.of());
            for (Replica r : entry.getValue()) {
                if (old.stream().noneMatch(o -> o.instance().equals(r.instance()))) moved++;
            }
        }
        return moved;
    }

    /** Rows each instance gets in {@code layer} under {@code loads} (rows per expert); 0 for those with none there. */
    public SortedMap<String, Double> instanceLoads(int layer, Map<ExpertId, Double> loads) {
        TreeMap<String, Double> perInstance = new TreeMap<>();
        for (String id : instances()) perInstance.put(id, 0.0);
        experts.forEach((e, rs) -> {
            if (e.layer() == layer) addShares(perInstance, rs, loads.getOrDefault(e, 0.0));
        });
        return perInstance;
    }

    /** Rows each instance gets over all layers under {@code loads}. */
    public SortedMap<String, Double> instanceLoads(Map<ExpertId, Double> loads) {
        TreeMap<String, Double> perInstance = new TreeMap<>();
        for (String id : instances()) perInstance.put(id, 0.0);
        experts.forEach((e, rs) -> addShares(perInstance, rs, loads.getOrDefault(e, 0.0)));
        return perInstance;
    }

    private static void addShares(Map<String, Double> perInstance, List<Replica> replicas, double load) {
        double weights = replicas.stream().mapToDouble(Replica::weight).sum();
        for (Replica r : replicas) perInstance.merge(r.instance(), load * r.weight() / weights, Double::sum);
    }

    /** {@code Σ_layer max / Σ_layer mean} of the instances' loads (see the type's description); 1.0 without load. */
    public double imbalance(Map<ExpertId, Double> loads) {
        double sumOfMax = 0;
        double sumOfMean = 0;
        for (int layer : layers()) {
            var perInstance = instanceLoads(layer, loads).values();
            sumOfMax += perInstance.stream().mapToDouble(Double::doubleValue).max().orElse(0);
            sumOfMean += perInstance.stream().mapToDouble(Double::doubleValue).average().orElse(0);
        }
        return sumOfMean == 0 ? 1.0 : sumOfMax / sumOfMean;
    }

    /** The MoE layers this placement covers. */
    public SortedSet<Integer> layers() {
        TreeSet<Integer> layers = new TreeSet<>();
        experts.keySet().forEach(e -> layers.add(e.layer()));
        return layers;
    }
}
