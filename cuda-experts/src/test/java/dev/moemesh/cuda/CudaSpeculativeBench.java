package dev.moemesh.cuda;

import dev.moemesh.core.checkpoint.PredictableCheckpoint;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.EngineStats;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.weights.WeightReader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Speculative decoding with the MTP module when the routed experts run on GPU 0: the single-process engine without
 * drafts and with 1 and 3 drafts a step, side by side in one JVM, on a {@code bench}-shaped checkpoint whose drafts
 * the main model accepts at a chosen rate ({@code make-model --predictable}, written first when the directory has
 * none). On a CPU a verify step's extra row reads the routed experts it routes to, so drafting gains little at batch 1
 * (docs/benchmarks.md); on a GPU a group of two rows costs what one row does, which is the figure this measures.
 * Prints one JSON object a line: whether every engine gave the plain engine's greedy tokens, then per batch size and
 * engine the median tokens per second of the rounds, the acceptance and the tokens a step.
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx40g \
 *   -cp "cuda-experts/target/classes:cuda-experts/target/test-classes:cuda-experts/target/lib/*" \
 *   dev.moemesh.cuda.CudaSpeculativeBench [checkpoint dir, default /tmp/moemesh-pred85] [agreement, default 0.85] \
 *   [rounds, default 3]</pre>
 *
 * {@code -Dbench.experts=cpu} keeps the routed experts on the CPU: the same figures on a machine without a GPU.
 */
public final class CudaSpeculativeBench {
    private static final int[] DRAFTS = {0, 1, 3};
    private static final int[] DECODE_BATCHES = {1, 8};
    private static final int DECODE_TOKENS = 96;

    private CudaSpeculativeBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "/tmp/moemesh-pred85");
        double agreement = args.length > 1 ? Double.parseDouble(args[1]) : 0.85;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        if (!Files.exists(dir.resolve("config.json"))) {
            long t0 = System.nanoTime();
            PredictableCheckpoint.write(dir, Preset.BENCH, 1, agreement);
            System.out.printf(Locale.ROOT, "{\"bench\":\"checkpoint\",\"dir\":\"%s\",\"agreement\":%s,\"seconds\":%.1f}%n",
                    dir, agreement, (System.nanoTime() - t0) / 1e9);
        }
        ModelConfig config = ModelConfig.load(dir);
        boolean onGpu = !"cpu".equals(System.getProperty("bench.experts", "cuda"));
        try (SafetensorsCheckpoint checkpoint = Checkpoints.open(dir);
             CudaExperts gpu = onGpu ? CudaExperts.open(config, 0) : null) {
            if (gpu != null) Checkpoints.loadAllExperts(gpu, new WeightReader(checkpoint), config);
            // one model for every engine (each engine holds its own KV cache), as mesh bench compares them: four
            // engines on four loads of one checkpoint, equal in all else, decoded 65.8-69.6 tok/s at batch 1 here,
            // the later loads faster
            ExpertBackend experts = gpu; // null: the model loads its routed experts into this process
            Model model = Model.load(dir, 0, experts, ModelOptions.configured().withMtp(true));
            BatchingEngine[] engines = new BatchingEngine[DRAFTS.length];
            for (int k = 0; k < DRAFTS.length; k++) {
                engines[k] = new BatchingEngine(model, EngineOptions.defaults().withSpeculativeTokens(DRAFTS[k])
                        .withSpeculativeMinAcceptance(0));
            }
            System.out.printf(Locale.ROOT, "{\"bench\":\"speculative\",\"threads\":%d,\"experts\":\"%s\",\"model\":\"%s\"}%n",
                    Parallel.threads(), gpu != null ? gpu.device() : "cpu", dir);
            int[] plain = greedy(engines[0]);
            for (int k = 1; k < DRAFTS.length; k++) {
                int[] drafted = greedy(engines[k]);
                System.out.printf(Locale.ROOT, "{\"bench\":\"greedy\",\"drafts\":%d,\"tokens\":%d,\"same\":%b,"
                        + "\"first_difference\":%d}%n", DRAFTS[k], plain.length, Arrays.equals(plain, drafted),
                        Arrays.mismatch(plain, drafted));
            }
            for (int batch : DECODE_BATCHES) {
                double[][] perRound = new double[DRAFTS.length][rounds];
                EngineStats.Speculation[] before = new EngineStats.Speculation[DRAFTS.length];
                for (int k = 0; k < DRAFTS.length; k++) before[k] = engines[k].stats().speculation();
                for (int r = 0; r < rounds; r++) {
                    for (int j = 0; j < DRAFTS.length; j++) {
                        int k = r % 2 == 0 ? j : DRAFTS.length - 1 - j; // alternate who goes first
                        perRound[k][r] = CudaEngineBench.figure(engines[k], "decode:" + batch, DECODE_TOKENS);
                    }
                }
                double plainTokS = CudaExpertsBench.median(perRound[0]);
                for (int k = 0; k < DRAFTS.length; k++) {
                    EngineStats.Speculation s = engines[k].stats().speculation();
                    long drafted = s.drafted() - before[k].drafted();
                    long accepted = s.accepted() - before[k].accepted();
                    long steps = s.decodeSteps() - before[k].decodeSteps();
                    double tokS = CudaExpertsBench.median(perRound[k]);
                    System.out.printf(Locale.ROOT, "{\"bench\":\"decode:%d\",\"drafts\":%d,\"tok_s\":%.1f,"
                            + "\"against_plain\":%.2f,\"acceptance\":%.3f,\"tokens_per_step\":%.2f,\"rounds\":%s}%n",
                            batch, DRAFTS[k], tokS, tokS / plainTokS, drafted == 0 ? 0 : (double) accepted / drafted,
                            steps == 0 ? 1 : (double) (steps + accepted) / steps, CudaEngineBench.rounded(perRound[k]));
                }
            }
        }
    }

    private static int[] greedy(BatchingEngine engine) {
        Generation g = engine.generate(List.of(new GenerationRequest("g", CudaEngineBench.prompt(16, 3),
                new SamplingParams(48, 0f, 0, 1f, 0, null, true)))).get(0);
        if (g.error() != null) throw new IllegalStateException("greedy run failed: " + g.error());
        return g.tokenIds();
    }
}
