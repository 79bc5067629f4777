package dev.moemesh.core.moe;

import dev.moemesh.core.model.ModelConfig;
import dev.moemesh.core.model.SwiGluMlp;
import dev.moemesh.core.model.WeightReader;

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

    @Override
    public void run(RoutedBatch batch) {
        int hidden = batch.hidden();
        int maxRows = 0;
        for (int g = 0; g < batch.groups(); g++) maxRows = Math.max(maxRows, batch.groupSize(g));
        float[] in = new float[maxRows * hidden];
        float[] out = new float[maxRows * hidden];
        float[] gateUp = new float[maxRows * 2 * inter];
        float[] act = new float[maxRows * inter];
        for (int g = 0; g < batch.groups(); g++) {
            int expert = batch.expertIds()[g];
            SwiGluMlp mlp = experts.get(key(batch.layer(), expert));
            if (mlp == null) {
                throw new IllegalArgumentException("expert " + expert + " of layer " + batch.layer() + " is not held here");
            }
            int rows = batch.groupSize(g);
            int from = batch.groupStart()[g] * hidden;
            System.arraycopy(batch.input(), from, in, 0, rows * hidden);
            mlp.apply(in, rows, out, gateUp, act);
            System.arraycopy(out, 0, batch.output(), from, rows * hidden);
        }
    }
}
