package dev.moemesh.orchestrator.placement;

import java.util.List;
import java.util.stream.Collectors;

/** The instances cannot hold one replica of every routed expert of a layer. */
public final class InsufficientSlotsException extends RuntimeException {
    public InsufficientSlotsException(int layer, int experts, List<InstanceCapacity> instances) {
        super("layer " + layer + " has " + experts + " routed experts but the " + instances.size()
                + " expert instances hold at most "
                + instances.stream().mapToInt(i -> Math.min(i.expertsPerLayer(), experts)).sum() + " of them ("
                + instances.stream().map(i -> i.instance() + ": " + Math.min(i.expertsPerLayer(), experts))
                .collect(Collectors.joining(", "))
                + "); add an expert instance or raise its expert_slots");
    }
}
