package dev.moemesh.cuda;

import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.tensor.Bf16Matrix;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;

/**
 * Times the expert kernels on GPU 0 and prints one JSON object a line: a device-to-device copy (the practical
 * memory peak), the grouped SwiGLU FFN at 256/512/1024 rows per expert (TFLOP/s, kernels alone and the whole
 * {@code run} with copies), and decode-sized groups (weight bytes read per second). Random bf16 weights are
 * built in memory; bench/torch_reference.py times PyTorch on the same shapes.
 *
 * <p>A benchmark with a {@code main}, kept with the tests (not in the module's jar); after {@code ./mvnw -B package
 * -DskipTests -pl cuda-experts -am}:
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx40g \
 *   -cp "cuda-experts/target/classes:cuda-experts/target/test-classes:cuda-experts/target/lib/*" \
 *   dev.moemesh.cuda.CudaExpertsBench</pre>
 */
public final class CudaExpertsBench {
    /** An expert size, with how many experts the grouped and the decode runs spread their rows over. */
    private record Shape(String name, int hidden, int inter, int groupedExperts, int decodeExperts) {}

    private static final Shape[] SHAPES = {
        new Shape("bench", 1024, 512, 32, 256),   // the bench preset's experts
        new Shape("v3", 7168, 2048, 16, 64),      // DeepSeek-V3's
    };
    private static final int[] TOKENS_PER_EXPERT = {256, 512, 1024};
    private static final int[] DECODE_ROWS = {1, 2, 4, 8};
    private static final int WARMUP = 3;
    private static final int REPEATS = 20;
    private static final int RUN_REPEATS = 9;

    private CudaExpertsBench() {}

    public static void main(String[] args) {
        for (Shape shape : SHAPES) {
            try (CudaExperts experts = CudaExperts.open(shape.hidden(), shape.inter(), 0)) {
                if (shape == SHAPES[0]) {
                    System.out.println("{\"bench\":\"device\",\"name\":\"" + experts.device() + "\"}");
                    copyBandwidth(experts);
                }
                int count = Math.max(shape.groupedExperts(), shape.decodeExperts());
                putRandomExperts(experts, shape, count);
                for (int tokens : TOKENS_PER_EXPERT) grouped(experts, shape, tokens);
                for (int rows : DECODE_ROWS) decode(experts, shape, rows);
            }
        }
    }

    /** One 1 GiB copy on the device, counting bytes read plus bytes written. */
    private static void copyBandwidth(CudaExperts experts) {
        long bytes = 1L << 30;
        try (DeviceBuffer from = new DeviceBuffer(); DeviceBuffer to = new DeviceBuffer()) {
            from.ensure(bytes);
            to.ensure(bytes);
            BatchLane lane = experts.takeLane();
            try {
                double ms = medianMs(lane.stream(), () -> cuMemcpyDtoDAsync(to.pointer(), from.pointer(), bytes, lane.stream()));
                System.out.printf(Locale.ROOT, "{\"bench\":\"copy\",\"bytes\":%d,\"ms\":%.4f,\"gb_per_s\":%.1f}%n",
                        2 * bytes, ms, 2 * bytes / ms / 1e6);
            } finally {
                experts.returnLane(lane);
            }
        }
    }

    private static void putRandomExperts(CudaExperts experts, Shape shape, int count) {
        SplittableRandom random = new SplittableRandom(42);
        Bf16Matrix gate = random(shape.inter(), shape.hidden(), random);
        Bf16Matrix up = random(shape.inter(), shape.hidden(), random);
        Bf16Matrix down = random(shape.hidden(), shape.inter(), random);
        for (int e = 0; e < count; e++) experts.put(0, e, gate, up, down);
    }

    private static Bf16Matrix random(int rows, int cols, SplittableRandom random) {
        float[] values = new float[rows * cols];
        double scale = 1 / Math.sqrt(cols);
        for (int i = 0; i < values.length; i++) values[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        return Bf16Matrix.fromFloats(rows, cols, values);
    }

    private static void grouped(CudaExperts experts, Shape shape, int tokens) {
        RoutedBatch batch = batch(shape, shape.groupedExperts(), tokens);
        double kernelMs = kernelMs(experts, batch);
        double runMs = runMs(experts, batch);
        double flop = 6.0 * shape.groupedExperts() * tokens * shape.hidden() * shape.inter();
        System.out.printf(Locale.ROOT, "{\"bench\":\"grouped\",\"shape\":\"%s\",\"hidden\":%d,\"inter\":%d,"
                        + "\"experts\":%d,\"tokens_per_expert\":%d,\"kernel_ms\":%.4f,\"tflops\":%.1f,\"run_ms\":%.3f,"
                        + "\"run_tflops\":%.1f}%n", shape.name(), shape.hidden(), shape.inter(), shape.groupedExperts(),
                tokens, kernelMs, flop / kernelMs / 1e9, runMs, flop / runMs / 1e9);
    }

    private static void decode(CudaExperts experts, Shape shape, int rows) {
        RoutedBatch batch = batch(shape, shape.decodeExperts(), rows);
        double kernelMs = kernelMs(experts, batch);
        double runMs = runMs(experts, batch);
        double weightBytes = 6.0 * shape.decodeExperts() * shape.hidden() * shape.inter();
        System.out.printf(Locale.ROOT, "{\"bench\":\"decode\",\"shape\":\"%s\",\"hidden\":%d,\"inter\":%d,"
                        + "\"experts\":%d,\"rows_per_expert\":%d,\"kernel_ms\":%.4f,\"weight_gb_per_s\":%.1f,"
                        + "\"run_ms\":%.3f}%n",
                shape.name(), shape.hidden(), shape.inter(), shape.decodeExperts(), rows, kernelMs,
                weightBytes / kernelMs / 1e6, runMs);
    }

    /** {@code experts} groups (experts 0, 1, ...) of {@code rows} random bf16 rows each. */
    private static RoutedBatch batch(Shape shape, int experts, int rows) {
        int[] ids = new int[experts];
        int[] start = new int[experts + 1];
        for (int g = 0; g < experts; g++) {
            ids[g] = g;
            start[g + 1] = start[g] + rows;
        }
        float[] input = new float[experts * rows * shape.hidden()];
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < input.length; i++) input[i] = Bf16.round((float) (random.nextDouble() * 2 - 1));
        return new RoutedBatch(0, shape.hidden(), ids, start, new int[experts * rows], input, new float[input.length]);
    }

    /** Median time of the kernels alone, inputs already on the device. */
    private static double kernelMs(CudaExperts experts, RoutedBatch batch) {
        DeviceExpert[] held = experts.acquire(batch);
        BatchLane lane = experts.takeLane();
        try {
            lane.upload(batch, held);
            double ms = medianMs(lane.stream(), lane::compute);
            lane.download(batch);
            return ms;
        } finally {
            experts.returnLane(lane);
            for (DeviceExpert e : held) e.release();
        }
    }

    /** Median wall time of {@link CudaExperts#run}: conversion to bf16, copies both ways, kernels. */
    private static double runMs(CudaExperts experts, RoutedBatch batch) {
        double[] ms = new double[RUN_REPEATS];
        experts.run(batch);
        for (int i = 0; i < ms.length; i++) {
            long start = System.nanoTime();
            experts.run(batch);
            ms[i] = (System.nanoTime() - start) / 1e6;
        }
        return median(ms);
    }

    private static double medianMs(CUstream stream, Runnable work) {
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        cuEventCreate(start, 0);
        cuEventCreate(stop, 0);
        try {
            for (int i = 0; i < WARMUP; i++) work.run();
            double[] ms = new double[REPEATS];
            float[] elapsed = new float[1];
            for (int i = 0; i < REPEATS; i++) {
                cuEventRecord(start, stream);
                work.run();
                cuEventRecord(stop, stream);
                cuEventSynchronize(stop);
                cuEventElapsedTime(elapsed, start, stop);
                ms[i] = elapsed[0];
            }
            return median(ms);
        } finally {
            cuEventDestroy(start);
            cuEventDestroy(stop);
        }
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
