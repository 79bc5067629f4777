package dev.moemesh.bench;

import dev.moemesh.core.numeric.Fp8E4m3;
import dev.moemesh.core.tensor.Bf16Matrix;
import dev.moemesh.core.tensor.Fp8Matrix;
import dev.moemesh.core.tensor.Matrix;

import java.util.SplittableRandom;

/** Random weights and activations of the size the bench model has. */
final class RandomWeights {
    private RandomWeights() {}

    static Matrix matrix(String storage, int rows, int cols, SplittableRandom random) {
        float bound = (float) (Math.sqrt(3.0 / cols));
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (bound * (random.nextDouble() * 2 - 1));
        return switch (storage) {
            case "bf16" -> Bf16Matrix.fromFloats(rows, cols, v);
            case "fp8" -> fp8(rows, cols, random, false);
            case "ue8m0" -> fp8(rows, cols, random, true);
            default -> throw new IllegalArgumentException("unknown storage " + storage);
        };
    }

    /**
     * Codes of magnitude 0.25 .. 3.75 with block scales near 0.02, as the random FP8 checkpoints have; with {@code
     * ue8m0}, those scales rounded up to powers of two, as {@code make-model --fp8 --ue8m0} writes them.
     */
    private static Matrix fp8(int rows, int cols, SplittableRandom random, boolean ue8m0) {
        byte[] codes = new byte[rows * cols];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = (byte) ((random.nextBoolean() ? 0x80 : 0) | (5 + random.nextInt(4)) << 3 | random.nextInt(8));
        }
        float[] scales = new float[((rows + 127) / 128) * ((cols + 127) / 128)];
        for (int i = 0; i < scales.length; i++) {
            float scale = (float) (0.02 + 0.02 * random.nextDouble());
            scales[i] = ue8m0 ? Fp8E4m3.ue8m0Scale(scale) : scale;
        }
        return Fp8Matrix.of("random", rows, cols, codes, scales, 128, 128);
    }

    static float[] floats(int n, SplittableRandom random) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (random.nextDouble() * 2 - 1);
        return v;
    }
}
