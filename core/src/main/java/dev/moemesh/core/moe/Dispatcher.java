package dev.moemesh.core.moe;

import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.tensor.Vectors;

import java.util.Arrays;

/**
 * Groups a routed batch by expert (dispatch) and adds each token's expert outputs back together (combine).
 *
 * <p>The combine visits a token's experts in ascending id and adds {@code weight · output} to zero in that order,
 * as the reference's loop over experts does, so a token's result depends neither on the batch it came in nor on
 * where its experts ran.
 */
public final class Dispatcher {
    /** Elements a parallel chunk of a copy or a combine should hold to be worth handing to another core. */
    private static final int GRAIN = 32_768;
    /** Columns of a combine's chunk: a multiple of any vector width. */
    private static final int STRIP = 64;

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
            }
        }
        Parallel.forRange(total, Math.max(1, GRAIN / hidden), (from, to) -> {
            for (int a = from; a < to; a++) Vectors.roundBf16(x, tokenRow[a] * hidden, input, a * hidden, hidden);
        });
    }

    /**
     * {@code y[r] = Σ_experts ascending weight · bf16(output)} for every token row. The cores split the hidden
     * columns, each walking every assignment over its columns, so each element's sum keeps its order.
     */
    public static void combine(RoutedBatch batch, Routing routing, float[] y) {
        int hidden = batch.hidden();
        int assignments = batch.assignments();
        Arrays.fill(y, 0, routing.rows() * hidden, 0f);
        // Groups are in ascending expert id, so walking them in order adds each token's experts in that order.
        float[] out = batch.output();
        float[] weight = batch.weights();
        int[] tokenRow = batch.tokenRow();
        int strips = (hidden + STRIP - 1) / STRIP;
        Parallel.forRange(strips, Math.max(1, GRAIN / Math.max(1, assignments * STRIP)), (from, to) -> {
            int c0 = from * STRIP, len = Math.min(hidden, to * STRIP) - c0;
            for (int a = 0; a < assignments; a++) {
                Vectors.addScaledBf16(weight[a], out, a * hidden + c0, y, tokenRow[a] * hidden + c0, len);
            }
        });
    }
}
