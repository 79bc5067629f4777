package dev.moemesh.attention.experts;

import dev.moemesh.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Which expert services hold each routed expert: {@code replicas[layer][expert]} lists indexes into the clients,
 * ascending. An expert may have several replicas (any one computes it) or none (a request routed to it fails).
 */
public final class Placement {
    private final long version;
    private final int[][][] replicas;

    private Placement(long version, int[][][] replicas) {
        this.version = version;
        this.replicas = replicas;
    }

    /** Builds the placement from what each service holds: {@code held.get(c)} lists (layer, expert) pairs of client c. */
    public static Placement of(long version, ModelConfig config, List<List<int[]>> held) {
        int layers = config.numLayers();
        int experts = config.nRoutedExperts();
        @SuppressWarnings("unchecked")
        List<Integer>[][] lists = new List[layers][experts];
        for (int c = 0; c < held.size(); c++) {
            for (int[] le : held.get(c)) {
                int layer = le[0];
                int expert = le[1];
                if (layer < 0 || layer >= layers || expert < 0 || expert >= experts || !config.isMoeLayer(layer)) {
                    throw new IllegalArgumentException("client " + c + " holds layer " + layer + " expert " + expert
                            + ", which this model does not have");
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
        return new Placement(version, replicas);
    }

    public long version() {
        return version;
    }

    /** The clients holding this expert, ascending; empty when none does. */
    public int[] replicas(int layer, int expert) {
        return replicas[layer][expert];
    }

    /** The routed experts of MoE layers that no service holds, as "layer:expert" strings (at most {@code limit}). */
    public List<String> uncovered(ModelConfig config, int limit) {
        List<String> missing = new ArrayList<>();
        for (int l = 0; l < replicas.length; l++) {
            if (!config.isMoeLayer(l)) continue;
            for (int e = 0; e < replicas[l].length && missing.size() < limit; e++) {
                if (replicas[l][e].length == 0) missing.add(l + ":" + e);
            }
        }
        return missing;
    }
}
