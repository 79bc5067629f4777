package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.placement.ExpertPlacement;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A placement as the control plane published it: its version, the model it is for, which instances serve each
 * expert, their addresses, and the rows per expert it was planned for.
 *
 * @param version   0 before the first placement; then increasing (see {@code docs/control-plane.md})
 * @param addresses {@code host:port} of every instance in the placement
 * @param plannedFor the decayed rows per expert the planner saw
 */
public record PublishedPlacement(long version, String modelFingerprint, ExpertPlacement placement,
                                 SortedMap<String, String> addresses, SortedMap<ExpertId, Double> plannedFor) {
    public PublishedPlacement {
        addresses = Collections.unmodifiableSortedMap(new TreeMap<>(addresses));
        plannedFor = Collections.unmodifiableSortedMap(new TreeMap<>(plannedFor));
    }

    /** Version 0: nothing placed yet. */
    static PublishedPlacement none(String modelFingerprint) {
        return new PublishedPlacement(0, modelFingerprint, ExpertPlacement.NONE, new TreeMap<>(), new TreeMap<>());
    }

    /** Whether {@code other} routes exactly as this one (the same replicas, weights and addresses). */
    boolean routesAs(ExpertPlacement other, Map<String, String> otherAddresses) {
        return placement.equals(other) && addresses.equals(otherAddresses);
    }
}
