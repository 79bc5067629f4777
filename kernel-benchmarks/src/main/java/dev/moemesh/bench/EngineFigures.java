package dev.moemesh.bench;

import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;

/**
 * One engine build's figures, measured as {@code mesh bench} does, inside the class loader {@link EngineComparison}
 * gives that build: {@code ("prefill", n)} tokens per second of an n-token prompt, {@code ("decode", b)} aggregate
 * tokens per second of b sequences decoding, {@code ("cpu", 0)} the last figure per CPU-second of the process,
 * {@code ("tokens", n)} a hash of n greedy tokens. Uses only API that main e245dfa has too.
 */
public final class EngineFigures implements BiFunction<String, Integer, Double> {
    private final BatchingEngine engine;
    private final int decodeTokens;
    private double perCpuSecond;

    public EngineFigures() {
        Model m = Model.load(Path.of(System.getProperty("compare.model", "/tmp/bench")), 0);
        engine = new BatchingEngine(m, new EngineOptions(256, 256, 64, 16, 4096));
        decodeTokens = Integer.getInteger("compare.decode-tokens", 16);
    }

    @Override
    public Double apply(String figure, Integer n) {
        return switch (figure) {
            case "cpu" -> perCpuSecond;
            case "prefill" -> prefill(n);
            case "decode" -> decode(n);
            case "tokens" -> (double) Arrays.hashCode(engine.generate(List.of(new GenerationRequest("t", prompt(16, 3),
                    new SamplingParams(n, 0f, 0, 1f, 0, null, true)))).get(0).tokenIds());
            default -> throw new IllegalArgumentException("unknown figure " + figure);
        };
    }

    private double prefill(int tokens) {
        long c0 = cpuNanos();
        Generation g = engine.generate(List.of(new GenerationRequest("p", prompt(tokens, 7),
                new SamplingParams(1, 0f, 0, 1f, 0, null, true)))).get(0);
        perCpuSecond = tokens / ((cpuNanos() - c0) / 1e9);
        return g.prefillTokensPerSecond();
    }

    private double decode(int batch) {
        AtomicInteger produced = new AtomicInteger();
        TokenListener listener = new TokenListener() {
            @Override
            public void onToken(String id, int token, TokenLogprobs logprobs) {
                produced.incrementAndGet();
            }

            @Override
            public void onFinish(Generation g) {}
        };
        for (int i = 0; i < batch; i++) {
            engine.submit(new GenerationRequest("d" + i, prompt(16, 100 + i),
                    new SamplingParams(decodeTokens, 0f, 0, 1f, 0, null, true)), listener);
        }
        while (produced.get() < batch) engine.step();
        int before = produced.get();
        long t0 = System.nanoTime(), c0 = cpuNanos();
        while (engine.hasWork()) engine.step();
        perCpuSecond = (produced.get() - before) / ((cpuNanos() - c0) / 1e9);
        return (produced.get() - before) / ((System.nanoTime() - t0) / 1e9);
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    static int[] prompt(int length, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = 2 + random.nextInt(500);
        return ids;
    }
}
