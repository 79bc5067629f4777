package dev.moemesh.core.moe;

import dev.moemesh.core.numeric.Bf16;

import java.util.Arrays;

/**
 * Groups a routed batch by expert (dispatch) and adds each token's expert outputs back together (combine).
 *
 * <p>The combine visits a token's experts in ascending id and adds {@code weight · output} to zero in that order,
 * as the reference's loop over experts does, so a token's result depends neither on the batch it came in nor on
 * where its experts ran.
 */
public final class Dispatcher {
    private Dispatcher() {}

    /** Builds the batch of {@code layer} for {@code x} (rows, hidden) routed by {@code routing}; inputs rounded to bf16. */
    public static RoutedBatch dispatch(int layer, float[] x, int hidden, Routing routing, int nExperts) {
        RoutedBatch batch = RoutedBatch.reusable(hidden);
        dispatch(layer, x, routing, nExperts, batch, new int[2 * nExperts]);
        return batch;
    }

    /**
     * Refills {@code batch} with {@code layer}'s rows of {@code x} routed by {@code routing}; {@code counts} is
     * (2 · nExperts) scratch. Allocates only when the batch is larger than any before.
     */
    public static void dispatch(int layer, float[] x, Routing routing, int nExperts, RoutedBatch batch, int[] counts) {
        int hidden = batch.hidden();
        int rows = routing.rows();
        int k = routing.topK();
        int total = rows * k;
        Arrays.fill(counts, 0, nExperts, 0);
        for (int i = 0; i < total; i++) counts[routing.experts()[i]]++;
        int groups = 0;
        for (int e = 0; e < nExperts; e++) if (counts[e] > 0) groups++;
        batch.reset(layer, groups, total);
        int[] ids = batch.expertIds();
        int[] start = batch.groupStart();
        start[0] = 0;
        for (int e = 0, g = 0; e < nExperts; e++) {
            if (counts[e] == 0) continue;
            ids[g] = e;
            start[g + 1] = start[g] + counts[e];
            counts[nExperts + e] = start[g]; // the next free row of expert e's group
            g++;
        }
        int[] tokenRow = batch.tokenRow();
        float[] weight = batch.weights();
        float[] input = batch.input();
        for (int r = 0; r < rows; r++) {
            for (int s = 0; s < k; s++) {
                int a = counts[nExperts + routing.expert(r, s)]++;
                tokenRow[a] = r;
                weight[a] = routing.weight(r, s);
                for (int i = 0; i < hidden; i++) input[a * hidden + i] = Bf16.round(x[r * hidden + i]);
            }
        }
    }

    /** {@code y[r] = Σ_experts ascending weight · bf16(output)} for every token row. */
    public static void combine(RoutedBatch batch, Routing routing, float[] y) {
        int hidden = batch.hidden();
        Arrays.fill(y, 0, routing.rows() * hidden, 0f);
        // Groups are in ascending expert id, so walking them in order adds each token's experts in that order.
        float[] out = batch.output();
        float[] weight = batch.weights();
        for (int a = 0; a < batch.assignments(); a++) {
            float w = weight[a];
            int r0 = batch.tokenRow()[a] * hidden;
            int o0 = a * hidden;
            for (int i = 0; i < hidden; i++) y[r0 + i] += w * Bf16.round(out[o0 + i]);
        }
    }
}
