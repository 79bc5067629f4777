package dev.moemesh.orchestrator.placement;

/** A physical copy of a logical expert on an instance, and the share of that expert's rows it gets. */
public record Replica(String instance, double weight) {
}
