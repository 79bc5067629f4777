package dev.moemesh.core.moe;

import dev.moemesh.core.numeric.Bf16;

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
        int rows = routing.rows();
        int k = routing.topK();
        int[] count = new int[nExperts];
        for (int i = 0; i < rows * k; i++) count[routing.experts()[i]]++;
        int groups = 0;
        for (int c : count) if (c > 0) groups++;
        int[] ids = new int[groups];
        int[] start = new int[groups + 1];
        int[] cursor = new int[nExperts];
        for (int e = 0, g = 0; e < nExperts; e++) {
            if (count[e] == 0) continue;
            ids[g] = e;
            start[g + 1] = start[g] + count[e];
            cursor[e] = start[g];
            g++;
        }
        int total = rows * k;
        int[] tokenRow = new int[total];
        float[] input = new float[total * hidden];
        for (int r = 0; r < rows; r++) {
            for (int s = 0; s < k; s++) {
                int a = cursor[routing.expert(r, s)]++;
                tokenRow[a] = r;
                for (int i = 0; i < hidden; i++) input[a * hidden + i] = Bf16.round(x[r * hidden + i]);
            }
        }
        return new RoutedBatch(layer, hidden, ids, start, tokenRow, input, new float[total * hidden]);
    }

    /** {@code y[r] = Σ_experts ascending weight · bf16(output)} for every token row. */
    public static void combine(RoutedBatch batch, Routing routing, float[] y) {
        int hidden = batch.hidden();
        int rows = routing.rows();
        java.util.Arrays.fill(y, 0, rows * hidden, 0f);
        float[] weightOf = new float[batch.assignments()];
        for (int g = 0; g < batch.groups(); g++) {
            int expert = batch.expertIds()[g];
            for (int a = batch.groupStart()[g]; a < batch.groupStart()[g + 1]; a++) {
                int r = batch.tokenRow()[a];
                for (int s = 0; s < routing.topK(); s++) {
                    if (routing.expert(r, s) == expert) weightOf[a] = routing.weight(r, s);
                }
            }
        }
        // Groups are in ascending expert id, so walking them in order adds each token's experts in that order.
        float[] out = batch.output();
        for (int a = 0; a < batch.assignments(); a++) {
            float w = weightOf[a];
            int r0 = batch.tokenRow()[a] * hidden;
            int o0 = a * hidden;
            for (int i = 0; i < hidden; i++) y[r0 + i] += w * Bf16.round(out[o0 + i]);
        }
    }
}
