package dev.moemesh.bench;

import dev.moemesh.core.tensor.Matrix;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.SplittableRandom;

/**
 * One weight matrix of the bench model times {@code rows} activation rows, on all cores (core's {@code Parallel}).
 * With {@code copies} above 1, each call takes the next of that many copies of the matrix, so the weights come from
 * memory rather than cache, as a decode step's do (256 copies of the smallest shape, q_b, are 151 MB in bf16 and
 * 76 MB in FP8, well past the L3). {@code storage=ue8m0}: FP8 with power-of-two block scales, which up to 16 rows fold
 * into the activations.
 */
@State(Scope.Benchmark)
public class MatrixProduct {
    @Param({"expert_gate_up", "expert_down", "q_b", "kv_a", "o_proj", "lm_head"})
    public String shape;

    @Param({"1", "4", "16", "32", "64"})
    public int rows;

    @Param({"bf16", "fp8"})
    public String storage;

    @Param({"1"})
    public int copies;

    Matrix[] w;
    int next;
    float[] x;
    float[] y;

    @Setup
    public void setUp() {
        int[] s = Shapes.MATRICES.get(shape);
        w = new Matrix[copies];
        SplittableRandom random = new SplittableRandom(shape.hashCode());
        for (int i = 0; i < copies; i++) w[i] = RandomWeights.matrix(storage, s[0], s[1], random);
        x = RandomWeights.floats(rows * s[1], new SplittableRandom(7));
        y = new float[rows * s[0]];
    }

    @Benchmark
    public float[] multiply() {
        w[next].multiply(x, rows, y);
        next = next + 1 == w.length ? 0 : next + 1;
        return y;
    }
}
