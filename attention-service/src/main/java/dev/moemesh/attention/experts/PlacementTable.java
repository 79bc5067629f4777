package dev.moemesh.attention.experts;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Which expert services hold each routed expert: {@code replicas[layer][expert]} lists indexes into
 * {@link #addresses()}, ascending, each with the instance id registered there ({@link #instance}; empty when not
 * known). An expert may have several replicas (any one computes it) or none (a request routed to it fails).
 */
public final class PlacementTable {
    private final long version;
    private final List<String> addresses;
    private final List<String> instances;
    private final int[][][] replicas;

    private PlacementTable(long version, List<String> addresses, List<String> instances, int[][][] replicas) {
        this.version = version;
        this.addresses = addresses;
        this.instances = instances;
        this.replicas = replicas;
    }

    /** Version 0: no expert service, nothing placed. */
    public static PlacementTable none(ModelConfig config) {
        return of(0, config, List.of(), List.of());
    }

    /**
     * Builds the placement from what each service holds: {@code held.get(c)} lists the (layer, expert) pairs of the
     * service at {@code addresses.get(c)}.
     *
     * @throws IllegalArgumentException when a service is said to hold an expert this model does not have
     */
    public static PlacementTable of(long version, ModelConfig config, List<String> addresses, List<List<int[]>> held) {
        return of(version, config, addresses, addresses.stream().map(a -> "").toList(), held);
    }

    private static PlacementTable of(long version, ModelConfig config, List<String> addresses, List<String> instances,
                                     List<List<int[]>> held) {
        if (addresses.size() != held.size()) {
            throw new IllegalArgumentException(addresses.size() + " addresses but " + held.size() + " holdings");
        }
        int layers = config.allLayers();
        int experts = config.nRoutedExperts();
        @SuppressWarnings("unchecked")
        List<Integer>[][] lists = new List[layers][experts];
        for (int c = 0; c < held.size(); c++) {
            for (int[] le : held.get(c)) {
                int layer = le[0];
                int expert = le[1];
                if (!config.isMoeLayer(layer) || expert < 0 || expert >= experts) {
                    throw new IllegalArgumentException("expert service " + addresses.get(c) + " is given layer "
                            + layer + " expert " + expert + ", which is no routed expert of this model (" + experts
                            + " on each MoE layer of " + layers + " layers)");
                }
                if (lists[layer][expert] == null) lists[layer][expert] = new ArrayList<>();
                if (!lists[layer][expert].contains(c)) lists[layer][expert].add(c);
            }
        }
        int[][][] replicas = new int[layers][experts][];
        for (int l = 0; l < layers; l++) {
            for (int e = 0; e < experts; e++) {
                replicas[l][e] = lists[l][e] == null ? new int[0]
                        : lists[l][e].stream().mapToInt(Integer::intValue).sorted().toArray();
            }
        }
        return new PlacementTable(version, List.copyOf(addresses), List.copyOf(instances), replicas);
    }

    /**
     * The placement a control plane published, over the services it names (by address, ascending). Replica weights
     * are not read: the planner gives every replica of an expert the same share, and choosing the least busy replica
     * per group spreads rows at least as evenly.
     *
     * @throws IllegalArgumentException when it names an empty address, one address for two instances, or an expert this
     *                                  model does not have
     */
    public static PlacementTable of(Placement published, ModelConfig config) {
        TreeMap<String, List<int[]>> byAddress = new TreeMap<>();
        TreeMap<String, String> instanceAt = new TreeMap<>();
        for (ExpertReplicas expert : published.getExpertsList()) {
            for (Replica replica : expert.getReplicasList()) {
                if (replica.getAddress().isBlank()) {
                    throw new IllegalArgumentException("a replica of layer " + expert.getLayer() + " expert "
                            + expert.getExpert() + " has no address");
                }
                String instance = instanceAt.putIfAbsent(replica.getAddress(), replica.getInstanceId());
                if (instance != null && !instance.equals(replica.getInstanceId())) {
                    throw new IllegalArgumentException("address " + replica.getAddress() + " is named for instances '"
                            + instance + "' and '" + replica.getInstanceId() + "'");
                }
                byAddress.computeIfAbsent(replica.getAddress(), a -> new ArrayList<>())
                        .add(new int[] {expert.getLayer(), expert.getExpert()});
            }
        }
        return of(published.getVersion(), config, List.copyOf(byAddress.keySet()), List.copyOf(instanceAt.values()),
                List.copyOf(byAddress.values()));
    }

    public long version() {
        return version;
    }

    /** The expert services the placement names; a replica index is a position in this list. */
    public List<String> addresses() {
        return addresses;
    }

    /** The instance id registered at {@code addresses().get(c)}; empty when the placement did not say. */
    public String instance(int c) {
        return instances.get(c);
    }

    /** The services holding this expert, ascending; empty when none does. */
    public int[] replicas(int layer, int expert) {
        return replicas[layer][expert];
    }

    /** The routed experts of MoE layers that no service holds, as "layer:expert" strings (at most {@code limit}). */
    public List<String> uncovered(ModelConfig config, int limit) {
        List<String> missing = new ArrayList<>();
        for (int l = 0; l < replicas.length; l++) {
            if (!config.isMoeLayer(l) || l >= config.numLayers()) continue; // the MTP layer's: only needed to draft
            for (int e = 0; e < replicas[l].length && missing.size() < limit; e++) {
                if (replicas[l][e].length == 0) missing.add(l + ":" + e);
            }
        }
        return missing;
    }
}
