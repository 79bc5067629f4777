package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.tensor.Parallel;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiPredicate;

/**
 * Routed experts held in this process: a set of (layer, expert) pairs that can grow and shrink one expert at a
 * time while batches run (a batch started with an expert finishes with it).
 */
public final class LocalExperts implements ExpertPool {
    private final Map<Long, SwiGluMlp> experts = new ConcurrentHashMap<>();
    private final ModelConfig config;

    public LocalExperts(ModelConfig config) {
        this.config = config;
    }

    /** Loads the routed experts for which {@code wanted.test(layer, expert)} holds, from the MoE layers of the model. */
    public static LocalExperts load(WeightReader r, ModelConfig c, BiPredicate<Integer, Integer> wanted) {
        LocalExperts local = new LocalExperts(c);
        for (int layer = 0; layer < c.numLayers(); layer++) {
            if (!c.isMoeLayer(layer)) continue;
            for (int e = 0; e < c.nRoutedExperts(); e++) {
                if (wanted.test(layer, e)) local.add(r, layer, e);
            }
        }
        return local;
    }

    public static LocalExperts loadAll(WeightReader r, ModelConfig c) {
        return load(r, c, (layer, expert) -> true);
    }

    @Override
    public void add(WeightReader r, int layer, int expert) {
        experts.computeIfAbsent(key(layer, expert), k -> SwiGluMlp.load(r,
                "model.layers." + layer + ".mlp.experts." + expert + ".", config.hiddenSize(), config.moeIntermediateSize()));
    }

    @Override
    public void remove(int layer, int expert) {
        experts.remove(key(layer, expert));
    }

    private static long key(int layer, int expert) {
        return ((long) layer << 32) | expert;
    }

    @Override
    public boolean holds(int layer, int expert) {
        return experts.containsKey(key(layer, expert));
    }

    @Override
    public String device() {
        return "cpu";
    }

    /** The weights are memory the garbage collector takes back; nothing to free. */
    @Override
    public void close() {
        experts.clear();
    }

    /**
     * Runs every group. With at least as many groups as cores, one expert per task: each core keeps an expert's
     * weights to itself and no product is handed off. With fewer (batch-1 decode on a small instance), the groups
     * run one after another and each product is split across the cores. Either way a row's result is the same.
     */
    @Override
    public void run(RoutedBatch batch) {
        SwiGluMlp[] mlps = new SwiGluMlp[batch.groups()];
        for (int g = 0; g < mlps.length; g++) {
            mlps[g] = experts.get(key(batch.layer(), batch.expertIds()[g]));
            if (mlps[g] == null) {
                throw new IllegalArgumentException("expert " + batch.expertIds()[g] + " of layer " + batch.layer()
                        + " is not held here");
            }
        }
        if (mlps.length >= Parallel.threads()) {
            Parallel.forRange(mlps.length, 1, (from, to) -> runGroups(batch, mlps, from, to));
        } else {
            runGroups(batch, mlps, 0, mlps.length);
        }
    }

    private void runGroups(RoutedBatch batch, SwiGluMlp[] mlps, int from, int to) {
        int hidden = batch.hidden();
        int inter = config.moeIntermediateSize();
        int maxRows = 0;
        for (int g = from; g < to; g++) maxRows = Math.max(maxRows, batch.groupSize(g));
        float[] in = new float[maxRows * hidden];
        float[] out = new float[maxRows * hidden];
        float[] gateUp = new float[maxRows * 2 * inter];
        float[] act = new float[maxRows * inter];
        for (int g = from; g < to; g++) {
            int rows = batch.groupSize(g);
            int offset = batch.groupStart()[g] * hidden;
            System.arraycopy(batch.input(), offset, in, 0, rows * hidden);
            mlps[g].apply(in, rows, out, gateUp, act);
            System.arraycopy(out, 0, batch.output(), offset, rows * hidden);
        }
    }
}
