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
 * @param placementInUse attention services: the placement version their last heartbeat said they route with (0:
 *                      none, or none told yet)
 */
public record Instance(Registration registration, Set<ExpertId> held, Instant lastHeartbeat, boolean draining,
                       long placementInUse) {
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

    Instance heartbeat(Instant at, long placementVersion) {
        return new Instance(registration, held, at, draining, placementVersion);
    }

    Instance holding(Set<ExpertId> experts) {
        return new Instance(registration, experts, lastHeartbeat, draining, placementInUse);
    }

    Instance draining(boolean drain) {
        return new Instance(registration, held, lastHeartbeat, drain, placementInUse);
    }
}
