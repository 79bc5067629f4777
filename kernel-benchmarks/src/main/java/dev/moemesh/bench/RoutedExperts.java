package dev.moemesh.bench;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.nio.file.Path;
import java.util.SplittableRandom;

/** One MoE layer's routed experts (all 32 of the bench model) with {@code rows} rows each: the expert GEMM. */
@State(Scope.Benchmark)
public class RoutedExperts {
    @Param({"1", "4", "16", "32", "64"})
    public int rows;

    @Param({"false", "true"})
    public boolean fp8;

    Path dir;
    LocalExperts experts;
    RoutedBatch batch;

    @Setup
    public void setUp() {
        dir = BenchCheckpoint.write(fp8);
        ModelConfig c = ModelConfig.load(dir);
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            experts = LocalExperts.load(new WeightReader(ckpt), c, (layer, expert) -> layer == 1);
        }
        int groups = c.nRoutedExperts();
        int[] ids = new int[groups];
        int[] start = new int[groups + 1];
        for (int g = 0; g < groups; g++) {
            ids[g] = g;
            start[g + 1] = start[g] + rows;
        }
        float[] input = RandomWeights.floats(groups * rows * c.hiddenSize(), new SplittableRandom(3));
        batch = new RoutedBatch(1, c.hiddenSize(), ids, start, new int[groups * rows], input, new float[input.length]);
    }

    @TearDown
    public void tearDown() {
        BenchCheckpoint.delete(dir);
    }

    @Benchmark
    public float[] run() {
        experts.run(batch);
        return batch.output();
    }
}
