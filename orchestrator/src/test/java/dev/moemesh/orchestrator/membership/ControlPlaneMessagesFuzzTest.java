package dev.moemesh.orchestrator.membership;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.placement.ExpertPlacement;
import dev.moemesh.orchestrator.placement.InstanceCapacity;
import dev.moemesh.orchestrator.placement.InsufficientSlotsException;
import dev.moemesh.orchestrator.placement.PlacementPlanner;
import dev.moemesh.orchestrator.placement.Replica;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

import static dev.moemesh.testing.FuzzValues.edgeInt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the control plane's gRPC service hands the membership (Register, Heartbeat, Drain, and the held experts that
 * LoadExperts answers report), in any order and with any values, from callers that get past the transport: each call
 * is taken or refused with the exception the service maps to a clear status, and whatever was taken, the next plan
 * places exactly the served model's experts, only on registered expert services with room, or is refused for want of
 * slots; never another exception, never a made-up expert, never a negative or infinite load.
 */
class ControlPlaneMessagesFuzzTest {
    private static final String FINGERPRINT = "f1";
    private static final Set<ExpertId> MODEL = new TreeSet<>();

    static {
        for (int layer = 1; layer <= 2; layer++) for (int e = 0; e < 8; e++) MODEL.add(new ExpertId(layer, e));
    }

    @FuzzTest(maxDuration = "20s")
    void whateverInstancesSayThePlanPlacesOnlyTheModelsExpertsWhereThereIsRoom(FuzzedDataProvider data) {
        Membership m = new Membership(Clock.fixed(Instant.EPOCH, ZoneOffset.UTC), Duration.ofSeconds(6),
                Duration.ofMinutes(1), Optional.of(new ServedModel(FINGERPRINT, "test", MODEL)));
        int calls = data.consumeInt(1, 12);
        for (int c = 0; c < calls; c++) {
            String id = data.consumeBoolean() ? "i" + data.consumeInt(0, 3) : data.consumeString(6);
            try {
                switch (data.consumeInt(0, 3)) {
                    case 0 -> m.register(new Registration(id,
                            data.pickValue(new InstanceRole[] {InstanceRole.EXPERT, InstanceRole.ATTENTION}),
                            data.consumeBoolean() ? id + ":9100" : data.consumeString(8),
                            data.consumeBoolean() ? FINGERPRINT : data.consumeString(4), edgeInt(data, 10),
                            experts(data)));
                    case 1 -> {
                        Map<ExpertId, Long> rows = new HashMap<>();
                        for (ExpertId e : experts(data)) rows.put(e, data.consumeLong());
                        m.heartbeat(id, rows, data.consumeLong());
                    }
                    case 2 -> m.drain(id, data.consumeBoolean());
                    default -> m.holds(id, experts(data));
                }
            } catch (IllegalArgumentException | ModelMismatchException | UnknownInstanceException refused) {
                assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal that says nothing");
            }
        }
        SortedMap<ExpertId, Double> loads = m.expertLoads();
        assertEquals(MODEL, loads.keySet(), "the experts planned");
        loads.values().forEach(load -> assertTrue(load >= 1 && Double.isFinite(load), "a load of " + load));

        Map<String, Integer> slots = new TreeMap<>();
        for (Instance i : m.instances()) {
            if (i.role() != InstanceRole.EXPERT) continue;
            int given = i.registration().expertSlots();
            slots.put(i.id(), i.draining() ? 0 : given == 0 ? Integer.MAX_VALUE : given);
        }
        List<InstanceCapacity> capacities =
                slots.entrySet().stream().map(s -> new InstanceCapacity(s.getKey(), s.getValue())).toList();
        ExpertPlacement plan;
        try {
            plan = new PlacementPlanner(2, 1, 0.05).plan(loads, capacities);
        } catch (InsufficientSlotsException refused) {
            return;
        }
        assertEquals(MODEL, plan.experts().keySet(), "the experts placed");
        Map<String, Map<Integer, Integer>> used = new HashMap<>();
        plan.experts().forEach((expert, replicas) -> {
            assertTrue(!replicas.isEmpty(), expert + " placed nowhere");
            for (Replica r : replicas) {
                assertTrue(slots.containsKey(r.instance()), expert + " placed on " + r.instance());
                assertTrue(r.weight() > 0 && Double.isFinite(r.weight()), expert + " weighs " + r.weight());
                used.computeIfAbsent(r.instance(), k -> new HashMap<>()).merge(expert.layer(), 1, Integer::sum);
            }
        });
        used.forEach((instance, layers) -> layers.forEach((layer, n) -> assertTrue(n <= slots.get(instance),
                instance + " holds " + n + " experts of layer " + layer + " with " + slots.get(instance) + " slots")));
    }

    private static Set<ExpertId> experts(FuzzedDataProvider data) {
        Set<ExpertId> out = new TreeSet<>();
        int n = data.consumeInt(0, 6);
        for (int i = 0; i < n; i++) out.add(new ExpertId(edgeInt(data, 3), edgeInt(data, 9)));
        return out;
    }
}
