package dev.moemesh.orchestrator.membership;


import dev.moemesh.core.moe.ExpertId;

import java.net.URI;
import java.net.URISyntaxException;
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
        if (!isHostAndPort(address)) {
            // the control plane dials it (LoadExperts, a probe) and the placement hands it to every attention service
            throw new IllegalArgumentException("instance '" + instanceId + "' gives address '" + address + "', not"
                    + " host:port (a host name or IP address, IPv6 in brackets, and a port 1-65535)");
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

    private static boolean isHostAndPort(String address) {
        try {
            URI uri = new URI("//" + address);
            return uri.getHost() != null && uri.getUserInfo() == null && uri.getPort() >= 1 && uri.getPort() <= 65535
                    && uri.getRawPath().isEmpty() && uri.getRawQuery() == null && uri.getRawFragment() == null;
        } catch (URISyntaxException e) {
            return false;
        }
    }
}
