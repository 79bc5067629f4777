package dev.moemesh.core.moe;

import dev.moemesh.core.model.ModelConfig;
import dev.moemesh.core.model.SwiGluMlp;
import dev.moemesh.core.model.WeightReader;
import dev.moemesh.core.tensor.Parallel;

import java.util.HashMap;
import java.util.Map;
import java.util.function.BiPredicate;

/** Routed experts held in this process, for a chosen set of (layer, expert) pairs. */
public final class LocalExperts implements ExpertBackend {
    private final Map<Long, SwiGluMlp> experts = new HashMap<>();
    private final int inter;

    private LocalExperts(int inter) {
        this.inter = inter;
    }

    /** Loads the routed experts for which {@code wanted.test(layer, expert)} holds, from the MoE layers of the model. */
    public static LocalExperts load(WeightReader r, ModelConfig c, BiPredicate<Integer, Integer> wanted) {
        LocalExperts local = new LocalExperts(c.moeIntermediateSize());
        for (int layer = 0; layer < c.numLayers(); layer++) {
            if (!c.isMoeLayer(layer)) continue;
            for (int e = 0; e < c.nRoutedExperts(); e++) {
                if (!wanted.test(layer, e)) continue;
                String prefix = "model.layers." + layer + ".mlp.experts." + e + ".";
                local.experts.put(key(layer, e), SwiGluMlp.load(r, prefix, c.hiddenSize(), c.moeIntermediateSize()));
            }
        }
        return local;
    }

    public static LocalExperts loadAll(WeightReader r, ModelConfig c) {
        return load(r, c, (layer, expert) -> true);
    }

    private static long key(int layer, int expert) {
        return ((long) layer << 32) | expert;
    }

    public boolean holds(int layer, int expert) {
        return experts.containsKey(key(layer, expert));
    }

    /**
     * Runs the groups in parallel, one expert per task: each core keeps an expert's weights to itself instead of
     * every product being split across cores, which saves a hand-off per matrix product.
     */
    @Override
    public void run(RoutedBatch batch) {
        int hidden = batch.hidden();
        for (int g = 0; g < batch.groups(); g++) {
            if (!holds(batch.layer(), batch.expertIds()[g])) {
                throw new IllegalArgumentException("expert " + batch.expertIds()[g] + " of layer " + batch.layer()
                        + " is not held here");
            }
        }
        Parallel.forRange(batch.groups(), 1, (from, to) -> {
            int maxRows = 0;
            for (int g = from; g < to; g++) maxRows = Math.max(maxRows, batch.groupSize(g));
            float[] in = new float[maxRows * hidden];
            float[] out = new float[maxRows * hidden];
            float[] gateUp = new float[maxRows * 2 * inter];
            float[] act = new float[maxRows * inter];
            for (int g = from; g < to; g++) {
                SwiGluMlp mlp = experts.get(key(batch.layer(), batch.expertIds()[g]));
                int rows = batch.groupSize(g);
                int offset = batch.groupStart()[g] * hidden;
                System.arraycopy(batch.input(), offset, in, 0, rows * hidden);
                mlp.apply(in, rows, out, gateUp, act);
                System.arraycopy(out, 0, batch.output(), offset, rows * hidden);
            }
        });
    }
}
