package dev.moemesh.core.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class Bf16MatrixTest {

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    /** The build runs these tests at each width ({@code -Dmoemesh.vector-bits}, core's pom): each run is the width it names. */
    @Test
    void panelsAreAsWideAsTheVectorsAskedFor() {
        String bits = System.getProperty("moemesh.vector-bits");
        if (bits != null) assertEquals(Integer.parseInt(bits) / Float.SIZE, Lanes.PANEL);
        assertEquals(Lanes.PANEL_F.length(), Lanes.PANEL_I.length());
        assertEquals(Bf16Matrix.PANELS * Lanes.PANEL, Bf16Matrix.TILE);
    }

    /** Odd sizes (a padded last tile) and a batch that mixes 4-row tiles and single rows. */
    @Test
    void multiplyMatchesScalarDoublePrecision() {
        for (int cols : new int[] {2, 16, 40, 130, 1024}) {
            int rows = 37;
            Bf16Matrix w = Bf16Matrix.fromFloats(rows, cols, random(rows * cols, cols));
            int batch = 7;
            float[] x = random(batch * cols, 99);
            float[] y = new float[batch * rows];
            w.multiply(x, batch, y);
            for (int r = 0; r < batch; r++) {
                for (int n = 0; n < rows; n++) {
                    double expected = 0;
                    for (int k = 0; k < cols; k++) expected += (double) w.get(n, k) * x[r * cols + k];
                    assertEquals(expected, y[r * rows + n], 1e-5 * Math.sqrt(cols), "cols " + cols + " row " + r + " out " + n);
                }
            }
        }
    }

    /** Every tile shape (4-row tiles, single rows, the padded last tile) against the scalar twin, bit for bit. */
    @Test
    void vectorKernelEqualsItsScalarTwinBitForBit() {
        for (int rows : new int[] {1, 8, 23, 24, 25, 47, 48, 50, 97}) {
            for (int cols : new int[] {2, 16, 34, 256}) {
                Bf16Matrix w = Bf16Matrix.fromFloats(rows, cols, random(rows * cols, rows * 31L + cols));
                for (int batch : new int[] {1, 3, 4, 7, 9}) {
                    float[] x = random(batch * cols, batch);
                    float[] fast = new float[batch * rows];
                    float[] scalar = new float[batch * rows];
                    w.multiply(x, batch, fast);
                    w.multiplyScalar(x, batch, scalar);
                    assertArrayEquals(scalar, fast, "rows " + rows + " cols " + cols + " batch " + batch);
                }
            }
        }
    }

    @Test
    void pairsGiveBackTheCheckpointLayout() {
        int[] pairs = new int[25 * 8];
        for (int i = 0; i < pairs.length; i++) pairs[i] = (i * 0x9E37) ^ (i << 17);
        assertArrayEquals(pairs, new Bf16Matrix(25, 16, pairs).pairs());
    }

    @Test
    void eachRowIsBitIdenticalWhateverTheBatchAroundIt() {
        int rows = 300, cols = 530;
        Bf16Matrix w = Bf16Matrix.fromFloats(rows, cols, random(rows * cols, 1));
        float[] x = random(9 * cols, 2);
        float[] all = new float[9 * rows];
        w.multiply(x, 9, all);
        for (int r = 0; r < 9; r++) {
            float[] one = new float[rows];
            float[] row = java.util.Arrays.copyOfRange(x, r * cols, (r + 1) * cols);
            w.multiply(row, 1, one);
            assertArrayEquals(one, java.util.Arrays.copyOfRange(all, r * rows, (r + 1) * rows), "row " + r);
        }
    }

    @Test
    void transposeAndSliceKeepValuesExactly() {
        Bf16Matrix w = Bf16Matrix.fromFloats(6, 10, random(60, 3));
        Matrix t = w.transpose();
        Matrix s = w.sliceRows(2, 3);
        for (int n = 0; n < 6; n++) {
            for (int k = 0; k < 10; k++) {
                assertEquals(w.get(n, k), t.get(k, n));
                if (n >= 2 && n < 5) assertEquals(w.get(n, k), s.get(n - 2, k));
            }
        }
    }

    @Test
    void f32MatrixAgreesWithBf16OnBf16Values() {
        Bf16Matrix b = Bf16Matrix.fromFloats(20, 48, random(960, 4));
        float[] values = new float[960];
        for (int n = 0; n < 20; n++) b.row(n, values, n * 48);
        F32Matrix f = new F32Matrix(20, 48, values);
        float[] x = random(3 * 48, 5);
        float[] yb = new float[60], yf = new float[60];
        b.multiply(x, 3, yb);
        f.multiply(x, 3, yf);
        for (int i = 0; i < 60; i++) assertEquals(yb[i], yf[i], 1e-5);
    }
}
