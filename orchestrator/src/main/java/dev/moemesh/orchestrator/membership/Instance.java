package dev.moemesh.orchestrator.membership;


import dev.moemesh.core.moe.ExpertId;
import java.time.Instant;
import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * A registered member of the mesh as the control plane knows it.
 *
 * @param held          the experts it holds (expert services: as registered, then as LoadExperts and UnloadExperts
 *                      answered)
 * @param lastHeartbeat when it last registered or heartbeated
 * @param draining      whether it asked to be taken out of the placement before it stops
 */
public record Instance(Registration registration, Set<ExpertId> held, Instant lastHeartbeat, boolean draining) {
    public Instance {
        held = Collections.unmodifiableSortedSet(new TreeSet<>(held));
    }

    public String id() {
        return registration.instanceId();
    }

    public InstanceRole role() {
        return registration.role();
    }

    public String address() {
        return registration.address();
    }

    Instance heartbeat(Instant at) {
        return new Instance(registration, held, at, draining);
    }

    Instance holding(Set<ExpertId> experts) {
        return new Instance(registration, experts, lastHeartbeat, draining);
    }

    Instance draining(boolean drain) {
        return new Instance(registration, held, lastHeartbeat, drain);
    }
}
