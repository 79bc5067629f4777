package dev.moemesh.orchestrator.membership;

import dev.moemesh.orchestrator.placement.ExpertId;

import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * The model the mesh serves, as far as the control plane knows it: its fingerprint, where that came from (for error
 * messages), and its routed experts (empty when only instances' registrations tell them).
 */
public record ServedModel(String fingerprint, String source, Set<ExpertId> experts) {
    public ServedModel {
        experts = Collections.unmodifiableSortedSet(new TreeSet<>(experts));
    }
}
