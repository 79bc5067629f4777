package dev.moemesh.cuda;

import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * CudaExperts against core's LocalExperts, the reference. Groups of up to 8 rows keep the SiLU product in fp32
 * as the CPU does, so only the summation order differs; larger groups round it to bf16 for the tensor cores.
 */
class CudaExpertsTest {
    private static final CudaProbe PROBE = CudaProbe.of(0);
    /** ‖gpu − cpu‖ / ‖cpu‖ per group. */
    private static final double FP32_PATH_TOLERANCE = 1e-4;
    private static final double TENSOR_CORE_TOLERANCE = 1e-2;
    private static final int[] GROUP_SIZES = {1, 3, 8, 64, 300};

    @BeforeEach
    void needsDevice() {
        assumeTrue(PROBE.usable(), "no CUDA device: " + PROBE.detail());
    }

    @Test
    void matchesCpuExpertsOnTinyCheckpointForEveryGroupSize() {
        compareWithCpu(Checkpoints.tinyV3(false), 1, new int[] {0, 3, 5, 9, 15}, GROUP_SIZES);
    }

    @Test
    void matchesCpuExpertsOnFp8Checkpoint() {
        compareWithCpu(Checkpoints.tinyV3(true), 2, new int[] {4, 7}, new int[] {2, 100});
    }

    @Test
    void matchesCpuExpertsOnBenchShapes() {
        compareWithCpu(Checkpoints.benchTwoLayers(), 1, new int[] {0, 6, 13, 20, 31}, GROUP_SIZES);
    }

    @Test
    void greedyTokensEqualTheAllCpuEngine() {
        Path dir = Checkpoints.tinyV3(false);
        ModelConfig config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint checkpoint = Checkpoints.open(dir);
             CudaExperts gpu = CudaExperts.open(config, 0)) {
            Checkpoints.loadAllExperts(gpu, new WeightReader(checkpoint), config);
            Model cpuModel = Model.load(dir, 0);
            Model gpuModel = Model.load(dir, 0, gpu);
            int[] lengths = {1, 3, 17, 40, 9, 64, 2, 100};  // prefill up to 100 rows: both paths run
            for (int salt = 0; salt < 3; salt++) {
                List<GenerationRequest> requests = new ArrayList<>();
                for (int i = 0; i < lengths.length; i++) requests.add(greedy("r" + i, prompt(lengths[i], i + 10 * salt)));
                List<Generation> expected = new BatchingEngine(cpuModel, EngineOptions.defaults()).generate(requests);
                List<Generation> actual = new BatchingEngine(gpuModel, EngineOptions.defaults()).generate(requests);
                for (int i = 0; i < requests.size(); i++) {
                    String what = "salt " + salt + ", sequence " + i + " (prompt " + lengths[i] + " tokens)";
                    assertEquals(expected.get(i).finishReason(), actual.get(i).finishReason(),
                            what + ": " + actual.get(i).error());
                    assertArrayEquals(expected.get(i).tokenIds(), actual.get(i).tokenIds(), what);
                }
            }
        }
    }

    @Test
    void aBatchKeepsExpertsRemovedWhileItRuns() throws Exception {
        Path dir = Checkpoints.tinyV3(false);
        ModelConfig config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint checkpoint = Checkpoints.open(dir);
             CudaExperts gpu = CudaExperts.open(config, 0)) {
            WeightReader reader = new WeightReader(checkpoint);
            LocalExperts cpu = LocalExperts.loadAll(reader, config);
            Checkpoints.loadAllExperts(gpu, reader, config);
            RoutedBatch reference = batch(1, new int[] {0, 1, 2}, new int[] {2, 40, 5}, config.hiddenSize(), 3);
            cpu.run(reference);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger completed = new AtomicInteger();
            AtomicInteger refused = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<?>> runners = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                runners.add(pool.submit(() -> {
                    while (!stop.get()) {
                        RoutedBatch b = batch(1, new int[] {0, 1, 2}, new int[] {2, 40, 5}, config.hiddenSize(), 3);
                        try {
                            gpu.run(b);
                        } catch (IllegalArgumentException notHeld) {
                            assertTrue(notHeld.getMessage().contains("is not held here"), notHeld.getMessage());
                            refused.incrementAndGet();
                            continue;
                        }
                        assertTrue(relativeError(reference.output(), b.output(), 0, b.output().length) < TENSOR_CORE_TOLERANCE);
                        completed.incrementAndGet();
                    }
                    return null;
                }));
            }
            for (int i = 0; i < 200; i++) {
                gpu.remove(1, 1);
                assertFalse(gpu.holds(1, 1));
                gpu.add(reader, 1, 1);
            }
            stop.set(true);
            for (Future<?> f : runners) f.get();
            pool.shutdown();
            assertTrue(completed.get() > 0, "no batch completed");
            System.out.printf(Locale.ROOT, "remove/add under load: %d batches completed, %d refused%n",
                    completed.get(), refused.get());
        }
    }

    @Test
    void refusesAnExpertItDoesNotHold() {
        ModelConfig config = ModelConfig.load(Checkpoints.tinyV3(false));
        try (CudaExperts gpu = CudaExperts.open(config, 0)) {
            RoutedBatch b = batch(1, new int[] {4}, new int[] {2}, config.hiddenSize(), 1);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.run(b));
            assertEquals("expert 4 of layer 1 is not held here", e.getMessage());
            assertTrue(gpu.device().startsWith("cuda:0 "), gpu.device());
        }
    }

    private static void compareWithCpu(Path dir, int layer, int[] experts, int[] sizes) {
        ModelConfig config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint checkpoint = Checkpoints.open(dir);
             CudaExperts gpu = CudaExperts.open(config, 0)) {
            WeightReader reader = new WeightReader(checkpoint);
            LocalExperts cpu = new LocalExperts(config);
            for (int e : experts) {
                cpu.add(reader, layer, e);
                gpu.add(reader, layer, e);
            }
            // every size alone, then all sizes in one batch (both paths in one call)
            for (int s = 0; s <= sizes.length; s++) {
                int[] ids = s < sizes.length ? new int[] {experts[s % experts.length]} : experts;
                int[] groupSizes = s < sizes.length ? new int[] {sizes[s]} : Arrays.copyOf(sizes, experts.length);
                check(dir, cpu, gpu, batch(layer, ids, groupSizes, config.hiddenSize(), 17 + s));
            }
        }
    }

    private static void check(Path dir, ExpertPool cpu, ExpertPool gpu, RoutedBatch batch) {
        RoutedBatch onGpu = new RoutedBatch(batch.layer(), batch.hidden(), batch.expertIds(), batch.groupStart(),
                batch.tokenRow(), batch.input(), new float[batch.output().length]);
        Arrays.fill(onGpu.output(), Float.NaN);
        cpu.run(batch);
        gpu.run(onGpu);
        int hidden = batch.hidden();
        for (int g = 0; g < batch.groups(); g++) {
            int from = batch.groupStart()[g] * hidden;
            int to = batch.groupStart()[g + 1] * hidden;
            double rel = relativeError(batch.output(), onGpu.output(), from, to);
            double maxAbs = 0;
            double maxRef = 0;
            for (int i = from; i < to; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(onGpu.output()[i] - batch.output()[i]));
                maxRef = Math.max(maxRef, Math.abs(batch.output()[i]));
            }
            int rows = batch.groupSize(g);
            System.out.printf(Locale.ROOT, "%s layer %d expert %d rows %3d: rel L2 %.2e, max abs %.2e (max |ref| %.2e)%n",
                    dir.getFileName(), batch.layer(), batch.expertIds()[g], rows, rel, maxAbs, maxRef);
            double tolerance = rows <= GroupTable.SMALL_ROWS ? FP32_PATH_TOLERANCE : TENSOR_CORE_TOLERANCE;
            assertTrue(rel <= tolerance, "expert " + batch.expertIds()[g] + ", " + rows + " rows: relative error "
                    + rel + " over " + tolerance);
        }
    }

    /** ‖actual − expected‖ / ‖expected‖ over {@code [from, to)}; NaN (an unwritten output) fails every bound. */
    private static double relativeError(float[] expected, float[] actual, int from, int to) {
        double diff = 0;
        double norm = 0;
        for (int i = from; i < to; i++) {
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        double rel = Math.sqrt(diff / norm);
        return Double.isNaN(rel) ? Double.POSITIVE_INFINITY : rel;
    }

    /** Random bf16 rows (the wire format), groups in the given expert order. */
    private static RoutedBatch batch(int layer, int[] experts, int[] sizes, int hidden, long seed) {
        int[] start = new int[experts.length + 1];
        for (int g = 0; g < experts.length; g++) start[g + 1] = start[g] + sizes[g];
        float[] input = new float[start[experts.length] * hidden];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < input.length; i++) input[i] = Bf16.round((float) (random.nextDouble() * 2 - 1));
        return new RoutedBatch(layer, hidden, experts, start, new int[start[experts.length]], input,
                new float[input.length]);
    }

    private static GenerationRequest greedy(String id, int[] prompt) {
        return new GenerationRequest(id, prompt, new SamplingParams(16, 0f, 0, 1f, 0, null, true));
    }

    private static int[] prompt(int length, int salt) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = 2 + (i * 37 + salt * 101) % 500;
        return ids;
    }
}
