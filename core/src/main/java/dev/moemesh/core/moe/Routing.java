package dev.moemesh.core.moe;

/** The gate's decision for a batch: for each row, its top-k experts and their weights, in the gate's order. */
public record Routing(int rows, int topK, int[] experts, float[] weights) { // experts, weights: (rows, topK)

    public int expert(int row, int slot) {
        return experts[row * topK + slot];
    }

    public float weight(int row, int slot) {
        return weights[row * topK + slot];
    }
}
