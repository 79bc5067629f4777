package dev.moemesh.orchestrator.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.moe.ExpertId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.IntStream;

class PlacementPlannerTest {

    /** Rows per expert of {@code layers} MoE layers: Zipf with exponent s, the hot experts shuffled per layer. */
    static Map<ExpertId, Double> zipf(int layers, int experts, double s, long seed) {
        Random random = new Random(seed);
        Map<ExpertId, Double> loads = new TreeMap<>();
        for (int layer = 1; layer <= layers; layer++) {
            List<Integer> rank = new ArrayList<>(IntStream.range(0, experts).boxed().toList());
            Collections.shuffle(rank, random);
            for (int e = 0; e < experts; e++) loads.put(new ExpertId(layer, e), 10_000 / Math.pow(rank.get(e) + 1, s));
        }
        return loads;
    }

    static Map<ExpertId, Double> uniform(int layers, int experts) {
        Map<ExpertId, Double> loads = new TreeMap<>();
        for (int layer = 1; layer <= layers; layer++) {
            for (int e = 0; e < experts; e++) loads.put(new ExpertId(layer, e), 100.0);
        }
        return loads;
    }

    static List<InstanceCapacity> instances(int count, int slots) {
        return IntStream.range(0, count).mapToObj(i -> new InstanceCapacity("x%02d".formatted(i), slots)).toList();
    }

    /** What a mesh does without a planner: one replica per expert, expert e on instance e mod n. */
    static ExpertPlacement roundRobin(Map<ExpertId, Double> loads, List<InstanceCapacity> instances) {
        TreeMap<ExpertId, List<Replica>> placed = new TreeMap<>();
        for (ExpertId e : loads.keySet()) {
            placed.put(e, List.of(new Replica(instances.get(e.expert() % instances.size()).instance(), 1.0)));
        }
        return new ExpertPlacement(placed);
    }

    static void assertValid(ExpertPlacement p, Map<ExpertId, Double> loads, List<InstanceCapacity> instances) {
        assertEquals(loads.keySet(), p.experts().keySet(), "every expert is placed");
        Map<String, Integer> slots = new TreeMap<>();
        instances.forEach(i -> slots.put(i.instance(), i.expertsPerLayer()));
        p.experts().forEach((e, replicas) -> {
            assertFalse(replicas.isEmpty(), "expert " + e + " has a replica");
            assertEquals(replicas.size(), new HashSet<>(replicas.stream().map(Replica::instance).toList()).size(),
                    "expert " + e + " has at most one replica per instance");
        });
        for (int layer : p.layers()) {
            Map<String, Integer> used = new TreeMap<>();
            p.experts().forEach((e, replicas) -> {
                if (e.layer() == layer) replicas.forEach(r -> used.merge(r.instance(), 1, Integer::sum));
            });
            used.forEach((instance, n) -> assertTrue(n <= slots.get(instance),
                    "layer " + layer + ": " + instance + " holds " + n + " experts in " + slots.get(instance)
                            + " slots"));
        }
    }

    @ParameterizedTest(name = "{0} experts, {1} instances of {2} slots, {3} redundant")
    @CsvSource({
            // experts, instances, slots per layer, redundant replicas
            "16, 2, 8, 0",
            "16, 2, 16, 0",
            "16, 3, 8, 8",
            "64, 8, 8, 0",
            "64, 8, 10, 16",
            "256, 16, 20, 64",
    })
    void uniformLoadSpreadsEvenlyWithEveryExpertPlaced(int experts, int count, int slots, int redundant) {
        var loads = uniform(2, experts);
        var instances = instances(count, slots);
        ExpertPlacement p = new PlacementPlanner(redundant, 0.05).plan(loads, instances);
        assertValid(p, loads, instances);
        for (int layer : p.layers()) {
            var perInstance = p.instanceLoads(layer, loads).values();
            double max = perInstance.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
            double min = perInstance.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
            // uniform experts: instances differ by at most one replica's load (100 split across its replicas)
            assertTrue(max - min <= 100.0 + 1e-9, "layer " + layer + " instance loads " + perInstance);
        }
    }

    /**
     * The figures docs/control-plane.md quotes: per layer, Zipf-distributed loads over the experts (hot experts at
     * different ids in each of 4 layers), max/mean instance load before (one replica each, round-robin) and after.
     */
    @ParameterizedTest(name = "{0} experts, Zipf s={1}, {2} instances of {3} slots, {4} redundant: at most {6}")
    @CsvSource({
            // experts, zipf s, instances, slots per layer, redundant, round-robin at least, planned at most
            "64, 1.0, 8, 10, 16, 1.5, 1.15",
            "64, 1.0, 8, 8, 0, 1.5, 1.90",
            "256, 1.0, 32, 9, 32, 2.0, 1.15",
            "256, 0.8, 16, 18, 32, 1.3, 1.05",
            "16, 1.2, 2, 10, 4, 1.05, 1.05",
    })
    void replicatingHotExpertsBalancesSkewedLoads(int experts, double s, int count, int slots, int redundant,
                                                 double roundRobinAtLeast, double plannedAtMost) {
        var loads = zipf(4, experts, s, 7);
        var instances = instances(count, slots);
        ExpertPlacement p = new PlacementPlanner(redundant, 0.05).plan(loads, instances);
        assertValid(p, loads, instances);
        double before = roundRobin(loads, instances).imbalance(loads);
        double after = p.imbalance(loads);
        System.out.printf("placement: %d experts, Zipf s=%.1f, %d instances x %d slots, %d redundant: max/mean %.3f"
                + " round-robin -> %.3f planned%n", experts, s, count, slots, redundant, before, after);
        assertTrue(before >= roundRobinAtLeast, "round-robin max/mean " + before);
        assertTrue(after <= plannedAtMost, "planned max/mean " + after + " > " + plannedAtMost);
    }

    @Test
    void theHottestExpertsGetTheExtraReplicas() {
        var loads = new TreeMap<ExpertId, Double>();
        double[] rows = {10, 800, 30, 400, 20, 10, 10, 10};
        for (int e = 0; e < rows.length; e++) loads.put(new ExpertId(1, e), rows[e]);
        ExpertPlacement p = new PlacementPlanner(3, 0.05).plan(loads, instances(4, 4));
        // 800 gets two extras (800/3 > 400/2), 400 one; weights split the expert's rows evenly
        assertEquals(3, p.experts().get(new ExpertId(1, 1)).size());
        assertEquals(2, p.experts().get(new ExpertId(1, 3)).size());
        assertEquals(1.0 / 3, p.experts().get(new ExpertId(1, 1)).getFirst().weight(), 1e-12);
        assertEquals(1, p.experts().get(new ExpertId(1, 2)).size());
    }

    @Test
    void equalInputsGiveEqualPlacementsWhateverTheirOrder() {
        var loads = zipf(3, 64, 1.0, 11);
        var instances = instances(8, 10);
        var shuffledInstances = new ArrayList<>(instances);
        Collections.shuffle(shuffledInstances, new Random(3));
        var reversedLoads = new LinkedHashMap<ExpertId, Double>();
        new ArrayList<>(loads.keySet()).reversed().forEach(e -> reversedLoads.put(e, loads.get(e)));
        var planner = new PlacementPlanner(16, 0.05);
        ExpertPlacement first = planner.plan(loads, instances);
        assertEquals(first, planner.plan(reversedLoads, shuffledInstances));
        assertEquals(first, planner.plan(loads, instances, first), "a placement is its own sticky re-plan");
        // all loads equal: ties go by id, still the same every time
        assertEquals(planner.plan(uniform(2, 16), instances(3, 8)), planner.plan(uniform(2, 16), instances(3, 8)));
    }

    @ParameterizedTest(name = "{0} experts on {1}")
    @CsvSource(delimiter = ';', value = {
            "16; 8,7; layer 1 has 16 routed experts but the 2 expert instances hold at most 15 of them"
                    + " (x00: 8, x01: 7)",
            "16; 0,0,0; layer 1 has 16 routed experts but the 3 expert instances hold at most 0 of them",
            "4; ''; layer 1 has 4 routed experts but the 0 expert instances hold at most 0 of them",
    })
    void refusesWhenTheSlotsCannotHoldEveryExpert(int experts, String slots, String message) {
        List<InstanceCapacity> instances = new ArrayList<>();
        if (!slots.isEmpty()) {
            String[] each = slots.split(",");
            for (int i = 0; i < each.length; i++) {
                instances.add(new InstanceCapacity("x%02d".formatted(i), Integer.parseInt(each[i])));
            }
        }
        var e = assertThrows(InsufficientSlotsException.class,
                () -> new PlacementPlanner(0, 0.05).plan(uniform(1, experts), instances));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
        assertTrue(e.getMessage().endsWith("add an expert instance or raise its expert_slots"), e.getMessage());
    }

    @Test
    void redundantReplicasStopWhereTheSlotsEnd() {
        var loads = zipf(1, 16, 1.0, 5);
        ExpertPlacement p = new PlacementPlanner(100, 0.05).plan(loads, instances(2, 10));
        assertEquals(20, p.experts().values().stream().mapToInt(List::size).sum(), "16 experts + 4 extras in 20 slots");
        ExpertPlacement everywhere = new PlacementPlanner(100, 0.05).plan(loads, instances(2, 100));
        assertEquals(32, everywhere.experts().values().stream().mapToInt(List::size).sum(), "at most one per instance");
    }

    @ParameterizedTest(name = "{0} experts, {1} to {2} instances of {3} slots, {4} redundant")
    @CsvSource({
            "64, 4, 5, 32, 0",
            "64, 8, 9, 12, 16",
            "256, 16, 17, 24, 32",
    })
    void anAddedInstanceTakesItsShareAndFewReplicasMove(int experts, int before, int after, int slots, int redundant) {
        var loads = zipf(2, experts, 0.9, 13);
        var planner = new PlacementPlanner(redundant, 0.05);
        ExpertPlacement old = planner.plan(loads, instances(before, slots));
        var grown = instances(after, slots);
        ExpertPlacement sticky = planner.plan(loads, grown, old);
        ExpertPlacement fresh = planner.plan(loads, grown);
        assertValid(sticky, loads, grown);
        String added = grown.getLast().instance();
        double mean = loads.values().stream().mapToDouble(Double::doubleValue).sum() / after;
        double share = sticky.instanceLoads(loads).get(added);
        int total = sticky.experts().values().stream().mapToInt(List::size).sum();
        System.out.printf("placement: %d -> %d instances (%d experts, %d redundant): %d of %d replicas moved sticky,"
                        + " %d fresh; the new instance carries %.2f of the mean; max/mean %.3f sticky, %.3f fresh%n",
                before, after, experts, redundant, sticky.movedReplicas(old), total, fresh.movedReplicas(old),
                share / mean, sticky.imbalance(loads), fresh.imbalance(loads));
        assertTrue(share >= 0.8 * mean, "the new instance carries " + share + " of a mean " + mean);
        assertTrue(sticky.movedReplicas(old) < fresh.movedReplicas(old), "sticky moves fewer than a fresh plan");
        assertTrue(sticky.movedReplicas(old) <= total / 2, sticky.movedReplicas(old) + " of " + total + " moved");
        assertTrue(sticky.imbalance(loads) <= fresh.imbalance(loads) * 1.05 + 1e-9);
    }

    @Test
    void aRemovedInstancesExpertsAreReplacedOnTheOthers() {
        var loads = zipf(2, 64, 0.9, 17);
        var planner = new PlacementPlanner(8, 0.05);
        var four = instances(4, 24);
        ExpertPlacement old = planner.plan(loads, four);
        var three = four.subList(0, 3);
        ExpertPlacement after = planner.plan(loads, three, old);
        assertValid(after, loads, three);
        assertFalse(after.instances().contains("x03"));
        int orphaned = old.heldBy("x03").size();
        int moved = after.movedReplicas(old);
        System.out.printf("placement: 4 -> 3 instances (64 experts, 8 redundant): %d replicas were on the removed"
                + " instance, %d moved; max/mean %.3f%n", orphaned, moved, after.imbalance(loads));
        assertTrue(moved >= orphaned - 8 && moved <= orphaned + orphaned / 2,
                moved + " moved for " + orphaned + " orphaned");
        assertTrue(after.imbalance(loads) <= 1.10, "max/mean " + after.imbalance(loads));
    }

    @Test
    void expertsStayOnInstancesThatHoldThemInMemory() {
        var loads = uniform(1, 16);
        TreeMap<ExpertId, List<Replica>> held = new TreeMap<>();
        for (ExpertId e : loads.keySet()) {
            // x00 has every expert loaded, x01 the upper half
            held.put(e, e.expert() < 8 ? List.of(new Replica("x00", 1))
                    : List.of(new Replica("x00", 1), new Replica("x01", 1)));
        }
        ExpertPlacement holdings = new ExpertPlacement(held);
        ExpertPlacement p = new PlacementPlanner(0, 0.05).plan(loads, instances(2, 16), holdings);
        assertEquals(0, p.movedReplicas(holdings), "nothing needs loading: " + p);
        assertEquals(8, p.heldBy("x01").size());
    }

    @Test
    void idleExpertsAreSpreadByCount() {
        var loads = new TreeMap<ExpertId, Double>();
        for (int e = 0; e < 12; e++) loads.put(new ExpertId(1, e), 0.0);
        ExpertPlacement p = new PlacementPlanner(0, 0.05).plan(loads, instances(3, 12));
        for (String i : p.instances()) assertEquals(4, p.heldBy(i).size(), i + " holds " + p.heldBy(i));
    }

    @Test
    void withTwoReplicasAtLeastNoInstanceIsTheOnlyHolderOfAnExpert() {
        var loads = zipf(2, 64, 1.0, 3);
        var instances = instances(8, 16);
        ExpertPlacement p = new PlacementPlanner(2, 0, 0.05).plan(loads, instances);
        assertValid(p, loads, instances);
        p.experts().forEach((expert, replicas) -> assertEquals(2, replicas.size(), expert + ": " + replicas));
        for (InstanceCapacity dead : instances) {
            p.experts().forEach((expert, replicas) -> assertTrue(replicas.stream()
                    .anyMatch(r -> !r.instance().equals(dead.instance())), expert + " survives " + dead.instance()));
        }
        double single = new PlacementPlanner(0, 0.05).plan(loads, instances).imbalance(loads);
        System.out.printf("placement: 64 experts, Zipf s=1.0, 8 instances x 16 slots: max/mean %.3f with one replica"
                + " each, %.3f with two%n", single, p.imbalance(loads));
    }

    @Test
    void whenSlotsRunShortOfTheMinimumTheHottestExpertsGetTheirReplicasFirst() {
        var loads = new TreeMap<ExpertId, Double>();
        for (int e = 0; e < 16; e++) loads.put(new ExpertId(1, e), (double) (e * 37 % 16) + 1);
        // 16 experts, 24 slots: 8 second replicas, for the 8 hottest
        ExpertPlacement p = new PlacementPlanner(2, 0, 0.05).plan(loads, instances(2, 12));
        for (var entry : loads.entrySet()) {
            int expected = entry.getValue() > 8 ? 2 : 1;
            assertEquals(expected, p.experts().get(entry.getKey()).size(), entry.getKey() + " with load " + entry.getValue());
        }
        // and never two replicas of one expert on one instance: 3 asked, 2 instances
        ExpertPlacement three = new PlacementPlanner(3, 0, 0.05).plan(loads, instances(2, 16));
        three.experts().forEach((expert, replicas) -> assertEquals(2, replicas.size(), expert.toString()));
    }

    @Test
    void redundantReplicasComeOnTopOfTheMinimum() {
        var loads = new TreeMap<ExpertId, Double>();
        double[] rows = {10, 800, 30, 400, 20, 10, 10, 10};
        for (int e = 0; e < rows.length; e++) loads.put(new ExpertId(1, e), rows[e]);
        ExpertPlacement p = new PlacementPlanner(2, 2, 0.05).plan(loads, instances(4, 8));
        assertEquals(18, p.experts().values().stream().mapToInt(List::size).sum(), "8 experts x 2 + 2 redundant");
        assertEquals(4, p.experts().get(new ExpertId(1, 1)).size(), "800 rows: both extras (800/3 > 400/2)");
        assertEquals(2, p.experts().get(new ExpertId(1, 3)).size());
        assertThrows(IllegalArgumentException.class, () -> new PlacementPlanner(0, 0, 0.05));
    }
}
