package dev.moemesh.cuda;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.weights.WeightReader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The single-process engine with its routed experts on the CPU and on GPU 0, side by side in one JVM: prefill and
 * decode tokens per second on the {@code bench} checkpoint (written first when the directory has none), the rest of
 * the model (attention, the shared expert, lm_head) on the CPU's cores in both. Prints one JSON object a line, each
 * figure the median of the rounds, and whether both gave the same greedy tokens.
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx40g \
 *   -cp "cuda-experts/target/classes:cuda-experts/target/test-classes:cuda-experts/target/lib/*" \
 *   dev.moemesh.cuda.CudaEngineBench [checkpoint dir, default /tmp/bench] [rounds, default 3]</pre>
 */
public final class CudaEngineBench {
    private static final int[] DECODE_BATCHES = {1, 8, 32, 64};
    private static final int PREFILL_TOKENS = 256;
    private static final int DECODE_TOKENS = 32;

    private CudaEngineBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "/tmp/bench");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        if (!Files.exists(dir.resolve("config.json"))) {
            long t0 = System.nanoTime();
            RandomCheckpoint.write(dir, Preset.BENCH, 1, false);
            System.out.printf(Locale.ROOT, "{\"bench\":\"checkpoint\",\"dir\":\"%s\",\"seconds\":%.1f}%n", dir,
                    (System.nanoTime() - t0) / 1e9);
        }
        ModelConfig config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint checkpoint = Checkpoints.open(dir);
             CudaExperts gpu = CudaExperts.open(config, 0)) {
            Checkpoints.loadAllExperts(gpu, new WeightReader(checkpoint), config);
            BatchingEngine[] engines = {
                new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults()),
                new BatchingEngine(Model.load(dir, 0, gpu), EngineOptions.defaults()),
            };
            System.out.printf(Locale.ROOT, "{\"bench\":\"engine\",\"threads\":%d,\"experts\":\"%s\"}%n",
                    Parallel.threads(), gpu.device());
            int[][] tokens = new int[2][];
            for (int k = 0; k < 2; k++) tokens[k] = greedy(engines[k]);
            System.out.printf(Locale.ROOT, "{\"bench\":\"greedy\",\"tokens\":%d,\"same\":%b,\"first_difference\":%d}%n",
                    tokens[0].length, Arrays.equals(tokens[0], tokens[1]), Arrays.mismatch(tokens[0], tokens[1]));
            List<String> figures = new ArrayList<>();
            figures.add("prefill:" + PREFILL_TOKENS);
            for (int b : DECODE_BATCHES) figures.add("decode:" + b);
            for (String figure : figures) {
                double[][] perRound = new double[2][rounds];
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < 2; k++) perRound[k][r] = figure(engines[k], figure);
                }
                double cpu = CudaExpertsBench.median(perRound[0]);
                double onGpu = CudaExpertsBench.median(perRound[1]);
                System.out.printf(Locale.ROOT, "{\"bench\":\"%s\",\"cpu_tok_s\":%.1f,\"gpu_experts_tok_s\":%.1f,"
                        + "\"ratio\":%.2f,\"cpu_rounds\":%s,\"gpu_rounds\":%s}%n", figure, cpu, onGpu, onGpu / cpu,
                        rounded(perRound[0]), rounded(perRound[1]));
            }
        }
    }

    private static int[] greedy(BatchingEngine engine) {
        Generation g = engine.generate(List.of(new GenerationRequest("g", prompt(16, 3),
                new SamplingParams(48, 0f, 0, 1f, 0, null, true)))).get(0);
        if (g.error() != null) throw new IllegalStateException("greedy run failed: " + g.error());
        return g.tokenIds();
    }

    static double figure(BatchingEngine engine, String figure) {
        return figure(engine, figure, DECODE_TOKENS);
    }

    /** {@code figure} with each decoding sequence generating {@code decodeTokens}. */
    static double figure(BatchingEngine engine, String figure, int decodeTokens) {
        int n = Integer.parseInt(figure.substring(figure.indexOf(':') + 1));
        if (figure.startsWith("prefill")) {
            Generation g = engine.generate(List.of(new GenerationRequest("p", prompt(n, 7),
                    new SamplingParams(1, 0f, 0, 1f, 0, null, true)))).get(0);
            if (g.error() != null) throw new IllegalStateException(figure + " failed: " + g.error());
            return g.prefillTokensPerSecond();
        }
        // as mesh bench: every sequence past its prompt, then the tokens after each one's first over their time
        AtomicInteger produced = new AtomicInteger();
        List<String> errors = new ArrayList<>();
        TokenListener listener = new TokenListener() {
            @Override
            public void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {
                produced.incrementAndGet();
            }

            @Override
            public void onFinish(Generation g) {
                if (g.error() != null) errors.add(g.error());
            }
        };
        for (int i = 0; i < n; i++) {
            engine.submit(new GenerationRequest("d" + i, prompt(16, 100 + i),
                    new SamplingParams(decodeTokens, 0f, 0, 1f, 0, null, true)), listener);
        }
        while (produced.get() < n && errors.isEmpty()) engine.step();
        int before = produced.get();
        long t0 = System.nanoTime();
        while (engine.hasWork()) engine.step();
        if (!errors.isEmpty()) throw new IllegalStateException(figure + " failed: " + errors.get(0));
        return (produced.get() - before) / ((System.nanoTime() - t0) / 1e9);
    }

    static int[] prompt(int length, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = 2 + random.nextInt(500);
        return ids;
    }

    static String rounded(double[] values) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) s.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.1f", values[i]));
        return s.append(']').toString();
    }
}
