package dev.moemesh.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.Sampler;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What asking for top_logprobs = 20 costs per generated token at batch 1, without and with, alternated round by round:
 * the log-softmax and top-20 of one row of logits alone, then greedy decoding on the bench preset's shapes (two
 * layers) with DeepSeek-V3's vocabulary, so that the lm_head and the pass over the vocabulary are of the real size.
 *
 * <p>Arguments: rounds (default 7), decode tokens per round (default 32). Prints each round, then medians and ranges.
 */
public final class LogprobsCost {
    private static final int V3_VOCAB = 129_280;
    private static final int TOP = 20;

    private LogprobsCost() {}

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        float[] logits = new float[V3_VOCAB];
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (random.nextGaussian() * 3);
        double[][] row = new double[2][rounds];
        for (int r = -2; r < rounds; r++) { // two rounds of warm-up
            for (int a = 0; a < 2; a++) {
                int with = (r & 1) == 0 ? a : 1 - a;
                double us = rowMicros(logits, with == 1, 2000);
                if (r >= 0) row[with][r] = us;
            }
        }
        report("one row, vocab " + V3_VOCAB + ", us/token", row);

        Path dir = Files.createTempDirectory("moemesh-logprobs-cost");
        try {
            ObjectNode config = Preset.BENCH.config().put("num_hidden_layers", 2).put("vocab_size", V3_VOCAB);
            RandomCheckpoint.write(dir, config, 1, false, 1L << 30);
            Model model = Model.load(dir, 0);
            int[] prompt = new int[16];
            for (int i = 0; i < prompt.length; i++) prompt[i] = 2 + i * 37;
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            for (int r = -1; r < rounds; r++) {
                for (int a = 0; a < 2; a++) {
                    int with = (r & 1) == 0 ? a : 1 - a;
                    double[] ms = decodeMillisPerToken(model, prompt, tokens, with == 1);
                    if (r >= 0) {
                        wall[with][r] = ms[0];
                        cpu[with][r] = ms[1];
                    }
                    System.out.printf("round %d %s: %.3f ms/token, %.3f cpu-ms/token%n", r,
                            with == 1 ? "top_logprobs=20" : "none", ms[0], ms[1]);
                }
            }
            String shapes = "greedy decode, batch 1, bench shapes, 2 layers, vocab " + V3_VOCAB;
            report(shapes + ", decode ms/token", wall);
            report(shapes + ", process cpu-ms per generated token (prefill included)", cpu);
        } finally {
            BenchCheckpoint.delete(dir);
        }
    }

    /** Mean microseconds of argmax, and with {@code logprobs} the top-20 log-probabilities too, over one row. */
    private static double rowMicros(float[] logits, boolean logprobs, int repeats) {
        long sink = 0;
        long start = System.nanoTime();
        for (int i = 0; i < repeats; i++) {
            int token = Sampler.argmax(logits, 0, logits.length);
            sink += token;
            if (logprobs) sink += TokenLogprobs.of(logits, 0, logits.length, token, TOP).topIds()[TOP - 1];
        }
        double us = (System.nanoTime() - start) / 1e3 / repeats;
        if (sink == 42) System.out.print(""); // keeps the work
        return us;
    }

    /** Decode wall-clock ms per token, and the process's CPU ms per generated token (all threads, prefill too). */
    private static double[] decodeMillisPerToken(Model model, int[] prompt, int tokens, boolean logprobs) {
        SamplingParams greedy = new SamplingParams(tokens, 0f, 0, 1f, 0, null, true,
                logprobs ? TOP : SamplingParams.NO_LOGPROBS);
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu = os.getProcessCpuTime();
        var g = new BatchingEngine(model, EngineOptions.defaults()).generate(List.of(new GenerationRequest("r", prompt,
                greedy))).get(0);
        cpu = os.getProcessCpuTime() - cpu;
        return new double[] {g.decodeNanos() / 1e6 / (g.tokenIds().length - 1), cpu / 1e6 / g.tokenIds().length};
    }

    private static void report(String what, double[][] v) {
        double[] without = v[0].clone(), with = v[1].clone();
        double[] ratio = new double[without.length];
        double[] extra = new double[without.length];
        for (int i = 0; i < ratio.length; i++) {
            ratio[i] = with[i] / without[i];
            extra[i] = with[i] - without[i];
        }
        Arrays.sort(without);
        Arrays.sort(with);
        Arrays.sort(ratio);
        Arrays.sort(extra);
        int m = ratio.length / 2;
        int l = ratio.length - 1;
        System.out.printf("%s: none %.3f [%.3f-%.3f], top_logprobs=20 %.3f [%.3f-%.3f], extra %.3f [%.3f-%.3f],"
                        + " ratio %.3f [%.3f-%.3f]%n", what, without[m], without[0], without[l], with[m], with[0],
                with[l], extra[m], extra[0], extra[l], ratio[m], ratio[0], ratio[l]);
    }
}
