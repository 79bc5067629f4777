package dev.moemesh.orchestrator.placement;

/**
 * An expert instance as the planner sees it: its id and how many routed experts of each MoE layer it can hold (its
 * memory budget counted in experts; every layer's experts are the same size).
 */
public record InstanceCapacity(String instance, int expertsPerLayer) {
    public InstanceCapacity {
        if (expertsPerLayer < 0) {
            throw new IllegalArgumentException("instance '" + instance + "' has " + expertsPerLayer + " expert slots");
        }
    }
}
