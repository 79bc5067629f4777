package dev.moemesh.bench;

import dev.moemesh.core.tensor.Bf16Matrix;
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
            default -> throw new IllegalArgumentException("unknown storage " + storage);
        };
    }

    static float[] floats(int n, SplittableRandom random) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (random.nextDouble() * 2 - 1);
        return v;
    }
}
