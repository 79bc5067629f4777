package dev.moemesh.orchestrator.membership;


import dev.moemesh.core.moe.ExpertId;
import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * What an instance tells the control plane when it registers.
 *
 * @param expertSlots expert services: routed experts of each MoE layer it can hold; 0: no limit given
 * @param held        expert services: the experts it holds now
 */
public record Registration(String instanceId, InstanceRole role, String address, String modelFingerprint,
                           int expertSlots, Set<ExpertId> held) {
    public Registration {
        if (instanceId == null || instanceId.isBlank()) throw new IllegalArgumentException("instance_id is empty");
        if (role == null) throw new IllegalArgumentException("instance '" + instanceId + "' gives no role");
        if (address == null || address.isBlank()) {
            throw new IllegalArgumentException("instance '" + instanceId + "' gives no address (host:port)");
        }
        if (modelFingerprint == null || modelFingerprint.isBlank()) {
            throw new IllegalArgumentException("instance '" + instanceId + "' gives no model_fingerprint");
        }
        if (expertSlots < 0) {
            throw new IllegalArgumentException("instance '" + instanceId + "' gives " + expertSlots + " expert slots");
        }
        if (role == InstanceRole.ROUTER && (!held.isEmpty() || expertSlots != 0)) {
            throw new IllegalArgumentException("router '" + instanceId + "' says it holds experts or has expert slots:"
                    + " a router holds none");
        }
        held = Collections.unmodifiableSortedSet(new TreeSet<>(held));
    }
}
