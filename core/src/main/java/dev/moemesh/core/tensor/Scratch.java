package dev.moemesh.core.tensor;

/** Per-thread buffers the kernels reuse, so a step allocates nothing. */
final class Scratch {
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[Bf16Matrix.TILE_ROWS * Bf16Matrix.TILE]);

    private static final ThreadLocal<float[]> FP8_WEIGHTS =
            ThreadLocal.withInitial(() -> new float[Fp8Matrix.K_BLOCK * Fp8Matrix.TILE]);
    private static final ThreadLocal<float[]> FP8_SUMS = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> FOLDED = ThreadLocal.withInitial(() -> new float[0]);

    private Scratch() {}

    /** The activation rows times an FP8 tile's power-of-two scales ({@code Fp8Matrix.fold}), grown to the largest seen. */
    static float[] foldedRows(int size) {
        return grown(FOLDED, size);
    }

    /** One FP8 tile's column block, dequantised. */
    static float[] fp8Weights() {
        return FP8_WEIGHTS.get();
    }

    /** The partial sums of one FP8 tile over a batch, grown to the largest batch seen. */
    static float[] fp8Sums(int size) {
        return grown(FP8_SUMS, size);
    }

    private static float[] grown(ThreadLocal<float[]> buffer, int size) {
        float[] s = buffer.get();
        if (s.length < size) {
            s = new float[size];
            buffer.set(s);
        }
        return s;
    }

    /** The outputs of one 4-row tile, for the tile that runs past the matrix's last row. */
    static float[] tileOutput() {
        return TILE.get();
    }

    /**
     * Copies {@code count} rows of last tile {@code t}'s outputs from {@link #tileOutput} (rows {@code TILE} apart)
     * into rows {@code r ..} of {@code y} (rows {@code rows} apart), less the padding.
     */
    static void unspill(float[] spill, int count, float[] y, int rows, int r, int t) {
        int tile = Bf16Matrix.TILE;
        for (int i = 0; i < count; i++) System.arraycopy(spill, i * tile, y, (r + i) * rows + t * tile, rows - t * tile);
    }
}
