package dev.moemesh.core.moe;

import dev.moemesh.core.numeric.Bf16;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DispatcherTest {

    /**
     * A prompt-sized batch, which dispatch and combine split across the cores (a hidden size that is not a whole
     * number of the combine's column strips): every expert input is its row rounded to bf16, and every output row
     * is the sum over its experts in ascending id of weight · bf16(output), in that order, bit for bit.
     */
    @Test
    void aLargeBatchSplitAcrossTheCoresGivesEachRowItsExpertsSumInAscendingOrder() {
        int rows = 96, k = 6, experts = 32, hidden = 200; // 576 copies of 200 and 4 column strips: both split
        SplittableRandom random = new SplittableRandom(5);
        int[] ids = new int[rows * k];
        float[] weights = new float[rows * k];
        for (int r = 0; r < rows; r++) {
            int[] pick = random.ints(0, experts).distinct().limit(k).toArray();
            for (int s = 0; s < k; s++) {
                ids[r * k + s] = pick[s];
                weights[r * k + s] = (float) random.nextDouble(0.01, 1);
            }
        }
        float[] x = new float[rows * hidden];
        for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextGaussian() * 3);
        Routing routing = new Routing(rows, k, ids, weights);

        RoutedBatch batch = Dispatcher.dispatch(1, x, hidden, routing, experts);
        assertEquals(rows * k, batch.assignments());
        for (int g = 0; g < batch.groups(); g++) {
            for (int a = batch.groupStart()[g]; a < batch.groupStart()[g + 1]; a++) {
                int r = batch.tokenRow()[a];
                for (int i = 0; i < hidden; i++) {
                    assertEquals(Bf16.round(x[r * hidden + i]), batch.input()[a * hidden + i], "input " + a + "," + i);
                    batch.output()[a * hidden + i] = expert(batch.expertIds()[g], batch.input()[a * hidden + i]);
                }
            }
        }
        float[] y = new float[rows * hidden];
        Arrays.fill(y, Float.NaN); // combine overwrites, it does not add to what was there
        Dispatcher.combine(batch, routing, y);

        for (int r = 0; r < rows; r++) {
            int row = r;
            int[] order = IntStream.range(0, k).boxed()
                    .sorted((p, q) -> Integer.compare(ids[row * k + p], ids[row * k + q])).mapToInt(i -> i).toArray();
            for (int i = 0; i < hidden; i++) {
                float expected = 0f;
                for (int s : order) {
                    float out = expert(ids[r * k + s], Bf16.round(x[r * hidden + i]));
                    expected += weights[r * k + s] * Bf16.round(out);
                }
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(y[r * hidden + i]),
                        "row " + r + " column " + i);
            }
        }
    }

    /** A stand-in expert whose output depends on which expert it is, with low bits that bf16 rounding drops. */
    private static float expert(int id, float in) {
        return in * (id + 1) * 0.3711f + 1e-3f * id;
    }
}
