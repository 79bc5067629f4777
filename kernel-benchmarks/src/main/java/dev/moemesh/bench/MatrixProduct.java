package dev.moemesh.bench;

import dev.moemesh.core.tensor.Matrix;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.SplittableRandom;

/** One weight matrix of the bench model times {@code rows} activation rows, on all cores (core's {@code Parallel}). */
@State(Scope.Benchmark)
public class MatrixProduct {
    @Param({"expert_gate_up", "expert_down", "q_b", "kv_a", "o_proj", "lm_head"})
    public String shape;

    @Param({"1", "4", "16", "32", "64"})
    public int rows;

    @Param({"bf16", "fp8"})
    public String storage;

    Matrix w;
    float[] x;
    float[] y;

    @Setup
    public void setUp() {
        int[] s = Shapes.MATRICES.get(shape);
        w = RandomWeights.matrix(storage, s[0], s[1], new SplittableRandom(shape.hashCode()));
        x = RandomWeights.floats(rows * s[1], new SplittableRandom(7));
        y = new float[rows * s[0]];
    }

    @Benchmark
    public float[] multiply() {
        w.multiply(x, rows, y);
        return y;
    }
}
