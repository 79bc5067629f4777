package dev.moemesh.cli;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.WatchPlacementRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.ManagedChannel;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The redundancy a placement gives the routed experts: how many expert services hold each, least and most, and how
 * many have a single replica, so that a mesh that could not get two replicas of every expert says so where it starts.
 */
record Redundancy(long version, int services, int experts, int fewest, int most, int single, int none) {

    /**
     * The placement the control plane at {@code target} publishes now, read as a watcher of the model over
     * {@code channels} (the mesh's: plaintext, or mutual TLS as an operator under {@code mesh up --tls}).
     */
    static Placement current(String target, String fingerprint, MeshChannels channels) {
        ManagedChannel channel = channels.forTarget(target, MeshRole.ORCHESTRATOR).build();
        try {
            Iterator<Placement> watch = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .watchPlacement(WatchPlacementRequest.newBuilder().setInstanceId("mesh-cli")
                            .setModelFingerprint(fingerprint).build());
            return watch.next(); // the current placement comes at once
        } finally {
            channel.shutdownNow();
        }
    }

    /** Counts the replicas of every routed expert of the model's MoE layers (the MTP layer's left out). */
    static Redundancy of(Placement placement, ModelConfig config) {
        Map<Long, Integer> replicas = new HashMap<>();
        Set<String> services = new HashSet<>();
        for (ExpertReplicas e : placement.getExpertsList()) {
            e.getReplicasList().forEach(r -> services.add(r.getAddress()));
            replicas.put(key(e.getLayer(), e.getExpert()), (int) e.getReplicasList().stream().map(r -> r.getAddress())
                    .distinct().count());
        }
        int experts = 0;
        int fewest = Integer.MAX_VALUE;
        int most = 0;
        int single = 0;
        int none = 0;
        for (int l = 0; l < config.numLayers(); l++) {
            if (!config.isMoeLayer(l)) continue;
            for (int e = 0; e < config.nRoutedExperts(); e++) {
                int n = replicas.getOrDefault(key(l, e), 0);
                experts++;
                fewest = Math.min(fewest, n);
                most = Math.max(most, n);
                if (n == 1) single++;
                if (n == 0) none++;
            }
        }
        return new Redundancy(placement.getVersion(), services.size(), experts, experts == 0 ? 0 : fewest, most,
                single, none);
    }

    private static long key(int layer, int expert) {
        return ((long) layer << 32) | expert;
    }

    /** One line: {@code placement version V: 2 to 2 replicas per routed expert (64 experts on 2 expert services)}. */
    String line() {
        StringBuilder b = new StringBuilder("placement version ").append(version).append(": ").append(fewest)
                .append(fewest == most ? "" : " to " + most).append(most == 1 ? " replica" : " replicas")
                .append(" per routed expert (").append(experts).append(" experts on ").append(services)
                .append(services == 1 ? " expert service)" : " expert services)");
        if (none > 0) b.append("; ").append(none).append(" held by no service");
        if (single > 0) {
            b.append("; ").append(single).append(single == 1 ? " has" : " have")
                    .append(" a single replica, so killing its service stalls the steps that need it until it is"
                            + " placed again");
        }
        return b.toString();
    }
}
