package dev.moemesh.core.safetensors;

import java.util.Arrays;

/**
 * The per-block scales of an FP8 weight: element (r, c) is multiplied by
 * {@code scale[r / blockRows][c / blockCols]}, as in DeepSeek-V3's {@code weight_dequant}.
 */
final class Fp8BlockScales {

    private final long cols;
    private final int blockRows;
    private final int blockCols;
    private final int scaleCols;
    private final float[] scales; // (ceil(rows / blockRows), ceil(cols / blockCols))

    private Fp8BlockScales(long cols, int blockRows, int blockCols, int scaleCols, float[] scales) {
        this.cols = cols;
        this.blockRows = blockRows;
        this.blockCols = blockCols;
        this.scaleCols = scaleCols;
        this.scales = scales;
    }

    /** Checks the weight is 2-D and the scale tensor has one entry per block. */
    static Fp8BlockScales of(TensorInfo weight, TensorInfo scale, int blockRows, int blockCols, float[] scales) {
        long[] shape = weight.shape();
        if (shape.length != 2) {
            throw new CheckpointException(weight.file() + ": FP8 tensor '" + weight.name() + "' has shape "
                    + Arrays.toString(shape) + "; block-scaled FP8 weights must be 2-D");
        }
        long[] expected = {ceilDiv(shape[0], blockRows), ceilDiv(shape[1], blockCols)};
        if (!Arrays.equals(scale.shape(), expected)) {
            throw new CheckpointException(scale.file() + ": scale tensor '" + scale.name() + "' has shape "
                    + Arrays.toString(scale.shape()) + " but weight '" + weight.name() + "' of shape "
                    + Arrays.toString(shape) + " in " + blockRows + "x" + blockCols + " blocks needs "
                    + Arrays.toString(expected) + "; check the FP8 block size");
        }
        return new Fp8BlockScales(shape[1], blockRows, blockCols, (int) expected[1], scales);
    }

    /** Scales elements {@code [first, first + count)} of the weight, held in {@code values[0, count)}. */
    void apply(float[] values, int count, long first) {
        if (count == 0) {
            return;
        }
        long row = first / cols;
        long col = first - row * cols;
        for (int j = 0; j < count; j++) {
            values[j] *= scales[(int) (row / blockRows) * scaleCols + (int) (col / blockCols)];
            if (++col == cols) {
                col = 0;
                row++;
            }
        }
    }

    private static long ceilDiv(long a, int b) {
        return (a + b - 1) / b;
    }
}
