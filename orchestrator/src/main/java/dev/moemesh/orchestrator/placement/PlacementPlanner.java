package dev.moemesh.orchestrator.placement;

import dev.moemesh.core.moe.ExpertId;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.IntStream;

/**
 * Plans where the replicas of the routed experts go, after DeepSeek's EPLB: per-expert loads and the instances'
 * slots in, an {@link ExpertPlacement} out; a pure, deterministic function ({@code docs/control-plane.md}).
 *
 * <p>Each MoE layer is planned on its own, because each layer's expert calls end in a barrier: what costs latency
 * is the most loaded instance of every layer, not of the whole model. Per layer:
 * <ol>
 *   <li>Replication: every expert gets one replica, then up to {@code minReplicas} each, hottest experts first,
 *       as far as the slots and instances allow (so an instance that dies leaves no expert without a replica);
 *       then, one at a time, the expert with the highest load per replica gets another, until
 *       {@code redundantReplicas} extra replicas are given, the slots are used up, or every expert has one on every
 *       instance.</li>
 *   <li>Packing: replicas, heaviest first, each onto the least loaded instance that has a free slot and no replica
 *       of that expert yet (longest-processing-time greedy). A replica that has nowhere to go is dropped; an
 *       expert's first replica always has somewhere, since the slots outnumber the replicas.</li>
 *   <li>Stickiness: given where experts are now, replicas first stay there (an expert on more instances than it
 *       has replicas stays on the least loaded of them), the rest are packed as above (preferring an instance
 *       that has the expert when loads are equal), then replicas move off the most loaded instance one at a time
 *       (a swap where no instance has a free slot; on ties, back onto an instance that has it), each move lowering
 *       it, until it carries at most {@code 1 + moveTolerance} times the most loaded instance of a fresh packing.
 *       If moves cannot get there, the fresh packing is used. So adding an instance moves the few heavy replicas
 *       it takes, not a reshuffle of everything.</li>
 * </ol>
 * A replica's weight is {@code 1 / replicas of its expert}. Ties go to the lower expert id and the lower instance
 * id, so equal inputs give equal placements.
 */
public final class PlacementPlanner {
    private final int minReplicas;
    private final int redundantReplicas;
    private final double moveTolerance;

    /** One replica of each expert at least; see {@link #PlacementPlanner(int, int, double)}. */
    public PlacementPlanner(int redundantReplicas, double moveTolerance) {
        this(1, redundantReplicas, moveTolerance);
    }

    /**
     * @param minReplicas       replicas every expert gets before any extra (fewer where the slots or the instances
     *                          run out, the coldest experts first)
     * @param redundantReplicas extra replicas per MoE layer beyond those (fewer when the slots run out)
     * @param moveTolerance     how much more load (a fraction, e.g. 0.05) the most loaded instance of a layer may
     *                          carry to keep replicas where they are rather than move them
     */
    public PlacementPlanner(int minReplicas, int redundantReplicas, double moveTolerance) {
        if (minReplicas < 1) throw new IllegalArgumentException("min replicas " + minReplicas + " < 1");
        if (redundantReplicas < 0) {
            throw new IllegalArgumentException("redundant replicas " + redundantReplicas + " < 0");
        }
        if (moveTolerance < 0) throw new IllegalArgumentException("move tolerance " + moveTolerance + " < 0");
        this.minReplicas = minReplicas;
        this.redundantReplicas = redundantReplicas;
        this.moveTolerance = moveTolerance;
    }

    /** A placement of every expert in {@code loads} (rows per expert, ≥ 0) on {@code instances}, from scratch. */
    public ExpertPlacement plan(Map<ExpertId, Double> loads, List<InstanceCapacity> instances) {
        return plan(loads, instances, ExpertPlacement.NONE);
    }

    /**
     * A placement of every expert in {@code loads} on {@code instances} that keeps experts where {@code current}
     * has them unless that costs more than the move tolerance. {@code current} may be the published placement or
     * what the instances hold in memory (then a move onto an instance that has the expert costs no loading); its
     * weights are not used.
     *
     * @throws InsufficientSlotsException when the instances' slots cannot hold one replica of each expert of a layer
     */
    public ExpertPlacement plan(Map<ExpertId, Double> loads, List<InstanceCapacity> instances,
                                ExpertPlacement current) {
        Set<String> ids = new HashSet<>();
        for (InstanceCapacity i : instances) {
            if (!ids.add(i.instance())) {
                throw new IllegalArgumentException("instance '" + i.instance() + "' is listed twice");
            }
        }
        List<InstanceCapacity> byId = instances.stream()
                .sorted(Comparator.comparing(InstanceCapacity::instance)).toList();
        TreeMap<Integer, List<ExpertId>> layers = new TreeMap<>();
        for (ExpertId e : new TreeMap<>(loads).keySet()) {
            layers.computeIfAbsent(e.layer(), l -> new ArrayList<>()).add(e);
        }
        TreeMap<ExpertId, List<Replica>> placed = new TreeMap<>();
        layers.forEach((layer, experts) -> placed.putAll(planLayer(layer, experts, loads, byId, current)));
        return new ExpertPlacement(placed);
    }

    private SortedMap<ExpertId, List<Replica>> planLayer(int layer, List<ExpertId> experts, Map<ExpertId, Double> loads,
                                                         List<InstanceCapacity> instances, ExpertPlacement current) {
        List<InstanceCapacity> usable = instances.stream().filter(i -> i.expertsPerLayer() > 0)
                .map(i -> new InstanceCapacity(i.instance(), Math.min(i.expertsPerLayer(), experts.size()))).toList();
        int slots = usable.stream().mapToInt(InstanceCapacity::expertsPerLayer).sum();
        if (slots < experts.size()) throw new InsufficientSlotsException(layer, experts.size(), instances);
        double[] load = new double[experts.size()];
        for (int e = 0; e < load.length; e++) {
            load[e] = loads.get(experts.get(e));
            if (!(load[e] >= 0)) {
                throw new IllegalArgumentException("expert " + experts.get(e) + " has load " + load[e]);
            }
        }
        int[] replicas = replicate(load, minReplicas, redundantReplicas, slots, usable.size());
        Packing fresh = Packing.fresh(experts, load, replicas, usable);
        boolean placedBefore = experts.stream().anyMatch(e -> current.experts().containsKey(e));
        if (!placedBefore) return fresh.replicas();
        double goal = fresh.maxLoad() * (1 + moveTolerance);
        Packing sticky = Packing.sticky(experts, load, replicas, usable, current, goal);
        return sticky.maxLoad() <= goal + 1e-9 * Math.max(1, goal) ? sticky.replicas() : fresh.replicas();
    }

    /**
     * Replica counts: one each; then up to {@code min} each, hottest first, while slots last; then {@code extra}
     * more one by one to the highest load per replica (ties: fewer replicas, id). Never more than
     * {@code maxPerExpert} (the instances) or, in all, {@code slots}.
     */
    static int[] replicate(double[] load, int min, int extra, int slots, int maxPerExpert) {
        int[] count = new int[load.length];
        Arrays.fill(count, 1);
        int free = slots - load.length;
        Integer[] byLoad = IntStream.range(0, load.length).boxed()
                .sorted(Comparator.comparingDouble((Integer e) -> -load[e]).thenComparingInt(e -> e))
                .toArray(Integer[]::new);
        for (int round = 1; round < Math.min(min, maxPerExpert) && free > 0; round++) {
            for (int i = 0; i < byLoad.length && free > 0; i++) {
                count[byLoad[i]]++;
                free--;
            }
        }
        extra = Math.min(extra, free);
        PriorityQueue<Integer> hottest = new PriorityQueue<>(Comparator
                .comparingDouble((Integer e) -> -load[e] / count[e])
                .thenComparingInt(e -> count[e])
                .thenComparingInt(e -> e));
        for (int e = 0; e < load.length; e++) hottest.add(e);
        while (extra > 0 && !hottest.isEmpty()) {
            int e = hottest.poll();
            if (count[e] >= maxPerExpert) continue;
            count[e]++;
            extra--;
            hottest.add(e);
        }
        return count;
    }

    /** One layer's replicas packed onto its instances (see the type's description for the rules). */
    private static final class Packing {
        private final List<ExpertId> experts;
        private final List<InstanceCapacity> instances;
        private final double[] perReplica;
        private final int[] replicas;
        private final double slack;
        private final double[] instanceLoad;
        private final List<Set<Integer>> holds = new ArrayList<>();
        private final List<List<Integer>> holders;

        private Packing(List<ExpertId> experts, double[] load, int[] replicas, List<InstanceCapacity> instances,
                        ExpertPlacement current) {
            this.experts = experts;
            this.instances = instances;
            this.replicas = replicas;
            this.instanceLoad = new double[instances.size()];
            for (int i = 0; i < instances.size(); i++) holds.add(new HashSet<>());
            this.perReplica = new double[load.length];
            double total = 0;
            for (int e = 0; e < load.length; e++) {
                perReplica[e] = load[e] / replicas[e];
                total += load[e];
            }
            this.slack = 1e-9 * Math.max(1, total);
            this.holders = currentHolders(current);
        }

        /** Every replica packed from scratch. */
        static Packing fresh(List<ExpertId> experts, double[] load, int[] replicas, List<InstanceCapacity> instances) {
            Packing p = new Packing(experts, load, replicas, instances, ExpertPlacement.NONE);
            p.packRest();
            return p;
        }

        /**
         * Replicas stay where {@code current} has them (heaviest first, each on its least loaded holder with a free
         * slot), the rest are packed, then single moves (or swaps, where slots are full) from the most loaded
         * instance bring its load down to {@code goal}, or as far as they can.
         */
        static Packing sticky(List<ExpertId> experts, double[] load, int[] replicas, List<InstanceCapacity> instances,
                              ExpertPlacement current, double goal) {
            Packing p = new Packing(experts, load, replicas, instances, current);
            List<Integer> byLoad = new ArrayList<>(IntStream.range(0, experts.size()).boxed().toList());
            byLoad.sort(Comparator.comparingDouble((Integer e) -> -p.perReplica[e]).thenComparingInt(e -> e));
            for (int e : byLoad) {
                while (p.placed(e) < replicas[e]) {
                    int best = -1;
                    for (int i : p.holders.get(e)) {
                        if (p.fits(i, e) && (best < 0 || p.instanceLoad[i] < p.instanceLoad[best] - p.slack)) best = i;
                    }
                    if (best < 0) break;
                    p.assign(e, best);
                }
            }
            p.packRest();
            p.moveTowards(goal);
            return p;
        }

        private List<List<Integer>> currentHolders(ExpertPlacement current) {
            List<List<Integer>> on = new ArrayList<>();
            for (ExpertId e : experts) {
                List<Integer> is = new ArrayList<>();
                for (Replica r : current.experts().getOrDefault(e, List.of())) {
                    for (int i = 0; i < instances.size(); i++) {
                        if (instances.get(i).instance().equals(r.instance())) is.add(i);
                    }
                }
                on.add(is);
            }
            return on;
        }

        /** Unplaced replicas, heaviest first, onto the least loaded instance with room (ties: holder, fewer, id). */
        private void packRest() {
            List<Integer> rest = new ArrayList<>();
            for (int e = 0; e < experts.size(); e++) for (int r = placed(e); r < replicas[e]; r++) rest.add(e);
            rest.sort(Comparator.comparingDouble((Integer e) -> -perReplica[e]).thenComparingInt(e -> e));
            for (int e : rest) {
                int best = -1;
                for (int i = 0; i < instances.size(); i++) {
                    if (fits(i, e) && (best < 0 || lessLoaded(i, best, e))) best = i;
                }
                // none: the replica is dropped (its expert is on every instance with room)
                if (best >= 0) assign(e, best);
            }
        }

        private boolean lessLoaded(int i, int best, int e) {
            if (Math.abs(instanceLoad[i] - instanceLoad[best]) > slack) return instanceLoad[i] < instanceLoad[best];
            if (held(i, e) != held(best, e)) return held(i, e);
            return holds(i).size() < holds(best).size(); // equal: instances are in id order, the earlier stays best
        }

        /** Moves (else swaps) replicas off the most loaded instance while that lowers it and it is above goal. */
        private void moveTowards(double goal) {
            for (int step = 0; step < 4 * IntStream.of(replicas).sum(); step++) {
                int top = mostLoaded();
                if (instanceLoad[top] <= goal + slack) return;
                if (!moveOne(top) && !swapOne(top)) return;
            }
        }

        /** The move that lowers the most loaded instance most; on ties, one back onto a former holder. */
        private boolean moveOne(int top) {
            double limit = instanceLoad[top] - slack;
            double bestMax = 0;
            int bestE = -1;
            int bestTo = -1;
            for (int e : sorted(holds(top))) {
                for (int to = 0; to < instances.size(); to++) {
                    if (to == top || !fits(to, e)) continue;
                    double max = Math.max(instanceLoad[top] - perReplica[e], instanceLoad[to] + perReplica[e]);
                    if (max >= limit) continue;
                    if (bestE < 0 || max < bestMax - slack
                            || max <= bestMax + slack && held(to, e) && !held(bestTo, bestE)) {
                        bestMax = max;
                        bestE = e;
                        bestTo = to;
                    }
                }
            }
            if (bestE < 0) return false;
            unassign(bestE, top);
            assign(bestE, bestTo);
            return true;
        }

        /** The swap that lowers the most loaded instance most; on ties, the one landing more on former holders. */
        private boolean swapOne(int top) {
            double limit = instanceLoad[top] - slack;
            double bestMax = 0;
            int bestHeld = 0;
            int[] best = null;
            for (int other = 0; other < instances.size(); other++) {
                if (other == top) continue;
                for (int a : sorted(holds(top))) {
                    if (holds(other).contains(a)) continue;
                    for (int b : sorted(holds(other))) {
                        if (holds(top).contains(b) || perReplica[b] >= perReplica[a]) continue;
                        double delta = perReplica[a] - perReplica[b];
                        double max = Math.max(instanceLoad[top] - delta, instanceLoad[other] + delta);
                        if (max >= limit) continue;
                        int backOnHolder = (held(other, a) ? 1 : 0) + (held(top, b) ? 1 : 0);
                        if (best == null || max < bestMax - slack
                                || max <= bestMax + slack && backOnHolder > bestHeld) {
                            bestMax = max;
                            bestHeld = backOnHolder;
                            best = new int[] {a, b, other};
                        }
                    }
                }
            }
            if (best == null) return false;
            unassign(best[0], top);
            unassign(best[1], best[2]);
            assign(best[0], best[2]);
            assign(best[1], top);
            return true;
        }

        /** Whether instance {@code i} holds expert {@code e} in the current placement. */
        private boolean held(int i, int e) {
            return holders.get(e).contains(i);
        }

        private int mostLoaded() {
            int top = 0;
            for (int i = 1; i < instances.size(); i++) if (instanceLoad[i] > instanceLoad[top] + slack) top = i;
            return top;
        }

        private static List<Integer> sorted(Set<Integer> experts) {
            return experts.stream().sorted().toList();
        }

        private Set<Integer> holds(int i) {
            return holds.get(i);
        }

        private int placed(int e) {
            int n = 0;
            for (Set<Integer> h : holds) if (h.contains(e)) n++;
            return n;
        }

        private boolean fits(int i, int e) {
            return holds(i).size() < instances.get(i).expertsPerLayer() && !holds(i).contains(e);
        }

        private void assign(int e, int i) {
            holds(i).add(e);
            instanceLoad[i] += perReplica[e];
        }

        private void unassign(int e, int i) {
            holds(i).remove(e);
            instanceLoad[i] -= perReplica[e];
        }

        double maxLoad() {
            return instanceLoad[mostLoaded()];
        }

        SortedMap<ExpertId, List<Replica>> replicas() {
            TreeMap<ExpertId, List<Replica>> out = new TreeMap<>();
            for (int e = 0; e < experts.size(); e++) {
                List<Integer> on = new ArrayList<>();
                for (int i = 0; i < instances.size(); i++) if (holds(i).contains(e)) on.add(i);
                double weight = 1.0 / on.size();
                out.put(experts.get(e),
                        on.stream().map(i -> new Replica(instances.get(i).instance(), weight)).toList());
            }
            return out;
        }
    }
}
