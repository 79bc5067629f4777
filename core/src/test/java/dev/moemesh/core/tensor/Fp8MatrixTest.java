package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Fp8E4m3;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Fp8MatrixTest {

    /** Every code but the two NaNs, subnormals included. */
    private static byte[] codes(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] c = new byte[n];
        for (int i = 0; i < n; i++) {
            int code;
            do code = r.nextInt(256); while ((code & 0x7F) == 0x7F);
            c[i] = (byte) code;
        }
        return c;
    }

    private static float[] scales(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] s = new float[n];
        for (int i = 0; i < n; i++) s[i] = (float) (1e-4 + 1e-2 * r.nextDouble());
        return s;
    }

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    private static Fp8Matrix matrix(int rows, int cols, int block, long seed) {
        int scaleRows = (rows + block - 1) / block, scaleCols = (cols + block - 1) / block;
        return Fp8Matrix.of("w", rows, cols, codes(rows * cols, seed), scales(scaleRows * scaleCols, seed + 1), block, block);
    }

    @Test
    void weightsAreTheCodeTimesItsBlockScaleInFp32() {
        int rows = 40, cols = 300, block = 16;
        byte[] c = codes(rows * cols, 3);
        float[] s = scales(3 * 19, 4);
        Fp8Matrix m = Fp8Matrix.of("w", rows, cols, c, s, block, block);
        for (int n = 0; n < rows; n++) {
            for (int k = 0; k < cols; k++) {
                float expected = Fp8E4m3.toFloat(c[n * cols + k]) * s[(n / block) * 19 + k / block];
                assertEquals(expected, m.get(n, k), "weight (" + n + ", " + k + ")");
            }
        }
    }

    /**
     * Column blocks that cross the 128-column dequantisation block and the scale blocks; a padded last tile; row
     * tails; up to 16 rows (dequantised in registers four, three or two rows at a time and the last alone, when the
     * columns come in fours), and more (through the fp32 buffer).
     */
    @Test
    void vectorKernelEqualsItsScalarTwinBitForBit() {
        for (int rows : new int[] {8, 24, 40, 56}) {
            for (int cols : new int[] {16, 130, 300}) {
                for (int block : new int[] {8, 128}) {
                    Fp8Matrix w = matrix(rows, cols, block, rows * 7L + cols);
                    for (int batch : new int[] {1, 2, 3, 4, 5, 7, 16, 17, 21}) {
                        float[] x = random(batch * cols, batch);
                        float[] fast = new float[batch * rows], scalar = new float[batch * rows];
                        w.multiply(x, batch, fast);
                        w.multiplyScalar(x, batch, scalar);
                        assertArrayEquals(scalar, fast, rows + "x" + cols + " block " + block + " batch " + batch);
                    }
                }
            }
        }
    }

    /** Powers of two, 2^-12 .. 2^-3, as DeepSeek-V3.1's UE8M0 block scales are. */
    private static float[] powerOfTwoScales(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] s = new float[n];
        for (int i = 0; i < n; i++) s[i] = Math.scalb(1f, -3 - r.nextInt(10));
        return s;
    }

    /**
     * Power-of-two scales fold into the activations for up to 16 rows: the same results bit for bit, in tiles
     * that share one scale a column block (folded) and tiles across a block's edge or with blocks of 8 rows (not).
     */
    @Test
    void powerOfTwoScalesFoldIntoTheActivationsBitForBit() {
        for (int rows : new int[] {40, 200, 300}) {
            for (int cols : new int[] {16, 132, 300}) {
                for (int block : new int[] {8, 128}) {
                    int scaleRows = (rows + block - 1) / block, scaleCols = (cols + block - 1) / block;
                    Fp8Matrix w = Fp8Matrix.of("w", rows, cols, codes(rows * cols, rows + cols),
                            powerOfTwoScales(scaleRows * scaleCols, block), block, block);
                    if (block == 128) assertTrue(w.foldingTiles() > 0, rows + "x" + cols + " folds nothing");
                    for (int batch : new int[] {1, 2, 3, 5, 7, 16}) {
                        float[] x = random(batch * cols, batch + cols);
                        float[] fast = new float[batch * rows], scalar = new float[batch * rows];
                        w.multiply(x, batch, fast);
                        w.multiplyScalar(x, batch, scalar);
                        assertArrayEquals(scalar, fast, rows + "x" + cols + " block " + block + " batch " + batch);
                    }
                }
            }
        }
        assertEquals(0, matrix(200, 256, 128, 5).foldingTiles(), "scales that are not powers of two never fold");
    }

    /**
     * Activations whose product with a scale would overflow or drop bits take the multiplying path, row by row, and
     * still give the scalar twin's results: a block scale of 2^6 is carried as 2^126, so folding 1e30 into it would
     * overflow where the true products stay finite; a scale of 2^-130 (carried 2^-10) would round subnormals.
     */
    @Test
    void activationsAFoldWouldRoundTakeTheMultiplyingPath() {
        int rows = 96, cols = 256;
        Fp8Matrix high = Fp8Matrix.of("w", rows, cols, codes(rows * cols, 1), new float[] {0x1p6f, 0x1p6f}, 128, 128);
        Fp8Matrix low = Fp8Matrix.of("w", rows, cols, codes(rows * cols, 2), new float[] {0x1p-130f, 0x1p-130f}, 128,
                128);
        int tiles = (rows + Fp8Matrix.TILE - 1) / Fp8Matrix.TILE; // one row block: every tile folds
        assertEquals(tiles, high.foldingTiles());
        assertEquals(tiles, low.foldingTiles());
        float[] x = random(3 * cols, 9);
        x[5] = 1e30f;                          // row 0
        x[cols + 7] = 3 * Float.MIN_VALUE;     // row 1
        x[2 * cols + 11] = -1e-40f;            // row 2
        for (Fp8Matrix w : new Fp8Matrix[] {high, low}) {
            float[] fast = new float[3 * rows], scalar = new float[3 * rows];
            w.multiply(x, 3, fast);
            w.multiplyScalar(x, 3, scalar);
            assertArrayEquals(scalar, fast);
            for (float v : scalar) assertTrue(Float.isFinite(v), "the true products are finite");
        }
    }

    /** MLA's per-head slices: bf16 where every value is one (power-of-two scales), else fp32; the same values. */
    @Test
    void slicesAndTransposesKeepEveryValueInBf16WhereExact() {
        int rows = 256, cols = 96;
        byte[] c = codes(rows * cols, 4);
        Fp8Matrix pow2 = Fp8Matrix.of("w", rows, cols, c, powerOfTwoScales(2, 5), 128, 128);
        Fp8Matrix any = Fp8Matrix.of("w", rows, cols, c, scales(2, 6), 128, 128);
        for (Fp8Matrix w : new Fp8Matrix[] {pow2, any}) {
            Matrix slice = w.sliceRows(128 + 32, 64), transposed = w.sliceRows(128, 32).transpose();
            Class<?> expected = w == pow2 ? Bf16Matrix.class : F32Matrix.class;
            assertEquals(expected, slice.getClass());
            assertEquals(expected, transposed.getClass());
            for (int n = 0; n < 64; n++) {
                for (int k = 0; k < cols; k++) assertEquals(w.get(160 + n, k), slice.get(n, k));
            }
            for (int n = 0; n < cols; n++) {
                for (int k = 0; k < 32; k++) assertEquals(w.get(128 + k, n), transposed.get(n, k));
            }
        }
    }

    @Test
    void stackingKeepsFp8AndEveryValue() {
        Fp8Matrix top = matrix(16, 256, 128, 1), below = matrix(40, 256, 128, 2);
        Matrix both = top.stack(below);
        assertTrue(both instanceof Fp8Matrix);
        for (int k = 0; k < 256; k += 17) {
            for (int n = 0; n < 16; n++) assertEquals(top.get(n, k), both.get(n, k));
            for (int n = 0; n < 40; n++) assertEquals(below.get(n, k), both.get(16 + n, k));
        }
    }

    @Test
    void nanCodeNamesTheTensorAndElement() {
        byte[] c = new byte[64];
        c[9] = (byte) 0xFF;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fp8Matrix.of("layers.3.w", 8, 8, c, new float[] {1f}, 128, 128));
        assertTrue(e.getMessage().contains("layers.3.w") && e.getMessage().contains("(1, 1)"), e.getMessage());
    }
}
