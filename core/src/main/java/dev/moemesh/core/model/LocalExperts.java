package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.tensor.Parallel;

import java.util.function.BiPredicate;

/**
 * Routed experts held in this process: a set of (layer, expert) pairs that can grow and shrink one expert at a
 * time while batches run (a batch started with an expert finishes with it).
 */
public final class LocalExperts implements ExpertPool {
    private final ModelConfig config;
    /**
     * The experts by [layer][expert]; add and remove replace the outer array and the changed layer's row, so a batch
     * that read the table keeps the experts it started with, and lookups need no boxed keys.
     */
    private volatile SwiGluMlp[][] table;
    /** Per-thread input, output and intermediate rows of the groups a thread runs, grown to the largest group. */
    private static final ThreadLocal<float[][]> ROWS = ThreadLocal.withInitial(() -> new float[4][0]);

    public LocalExperts(ModelConfig config) {
        this.config = config;
        this.table = new SwiGluMlp[config.allLayers()][config.nRoutedExperts()];
    }

    /**
     * Loads the routed experts for which {@code wanted.test(layer, expert)} holds, from the MoE layers of the model
     * (its multi-token-prediction layers' included).
     */
    public static LocalExperts load(WeightReader r, ModelConfig c, BiPredicate<Integer, Integer> wanted) {
        LocalExperts local = new LocalExperts(c);
        for (int layer : c.moeLayers()) {
            for (int e = 0; e < c.nRoutedExperts(); e++) {
                if (wanted.test(layer, e)) local.add(r, layer, e);
            }
        }
        return local;
    }

    public static LocalExperts loadAll(WeightReader r, ModelConfig c) {
        return load(r, c, (layer, expert) -> true);
    }

    /** Reads the expert outside the lock (the slow part), then publishes it unless another add did first. */
    @Override
    public void add(WeightReader r, int layer, int expert) {
        if (holds(layer, expert)) return;
        SwiGluMlp mlp = SwiGluMlp.load(r, "model.layers." + layer + ".mlp.experts." + expert + ".", config.hiddenSize(),
                config.moeIntermediateSize());
        synchronized (this) {
            if (table[layer][expert] == null) publish(layer, expert, mlp);
        }
    }

    @Override
    public synchronized void remove(int layer, int expert) {
        publish(layer, expert, null);
    }

    private void publish(int layer, int expert, SwiGluMlp mlp) {
        SwiGluMlp[][] t = table.clone();
        t[layer] = t[layer].clone();
        t[layer][expert] = mlp;
        table = t;
    }

    @Override
    public boolean holds(int layer, int expert) {
        return table[layer][expert] != null;
    }

    @Override
    public String device() {
        return "cpu";
    }

    /** The weights are memory the garbage collector takes back; nothing to free. */
    @Override
    public synchronized void close() {
        table = new SwiGluMlp[config.allLayers()][config.nRoutedExperts()];
    }

    /**
     * Runs every group. With at least as many groups as cores, one expert per task: each core keeps an expert's
     * weights to itself and no product is handed off. With fewer (batch-1 decode on a small instance), the groups
     * run one after another and each product is split across the cores. Either way a row's result is the same.
     */
    @Override
    public void run(RoutedBatch batch) {
        SwiGluMlp[] layer = table[batch.layer()]; // one table for the whole batch, whatever add/remove do meanwhile
        for (int g = 0; g < batch.groups(); g++) {
            if (layer[batch.expertIds()[g]] == null) {
                throw new IllegalArgumentException("expert " + batch.expertIds()[g] + " of layer " + batch.layer()
                        + " is not held here");
            }
        }
        if (batch.groups() >= Parallel.threads()) {
            Parallel.forRange(batch.groups(), 1, (from, to) -> runGroups(batch, layer, from, to));
        } else {
            runGroups(batch, layer, 0, batch.groups());
        }
    }

    private void runGroups(RoutedBatch batch, SwiGluMlp[] layer, int from, int to) {
        int hidden = batch.hidden();
        int inter = config.moeIntermediateSize();
        int maxRows = 0;
        for (int g = from; g < to; g++) maxRows = Math.max(maxRows, batch.groupSize(g));
        float[] in = rows(0, maxRows * hidden);
        float[] out = rows(1, maxRows * hidden);
        float[] gateUp = rows(2, maxRows * 2 * inter);
        float[] act = rows(3, maxRows * inter);
        for (int g = from; g < to; g++) {
            int rows = batch.groupSize(g);
            int offset = batch.groupStart()[g] * hidden;
            System.arraycopy(batch.input(), offset, in, 0, rows * hidden);
            layer[batch.expertIds()[g]].apply(in, rows, out, gateUp, act);
            System.arraycopy(out, 0, batch.output(), offset, rows * hidden);
        }
    }

    private static float[] rows(int slot, int size) {
        float[][] buffers = ROWS.get();
        if (buffers[slot].length < size) buffers[slot] = new float[size];
        return buffers[slot];
    }
}
