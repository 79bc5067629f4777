package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;

/** {@code mesh bench}: prefill and decode throughput of the single-process engine, and the machine's memory bandwidth. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure prefill and decode throughput of the single-process engine, and with --mesh N the"
                + " decode throughput and expert-call latency of a local mesh on the same checkpoint.")
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "checkpoint directory (e.g. one made with --preset bench)")
    Path model;

    @Option(names = "--batches", split = ",", defaultValue = "1,32", description = "decode batch sizes (default ${DEFAULT-VALUE})")
    int[] batches;

    @Option(names = "--prompt-tokens", defaultValue = "256", description = "prefill prompt length (default ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--decode-tokens", defaultValue = "64", description = "tokens decoded per sequence (default ${DEFAULT-VALUE})")
    int decodeTokens;

    @Option(names = "--repeat", defaultValue = "3", description = "measured runs per figure; the best is kept (default ${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--mesh", defaultValue = "0", description = "also run the decode figures through a local mesh of"
            + " this many expert services (separate processes, loopback gRPC), after the local ones (default: none)")
    int meshExpertServices;

    @Option(names = "--expert-java-opts", defaultValue = "", description = "JVM options of the --mesh expert services,"
            + " e.g. -Dmoemesh.threads=1 (default: none)")
    String expertJavaOpts;

    @Option(names = "--attention-java-opts", defaultValue = "", description = "JVM options of the --mesh attention"
            + " services, e.g. -Dmoemesh.spin-nanos=0 (default: none)")
    String attentionJavaOpts;

    @Override
    public Integer call() {
        ObjectNode out = new ObjectMapper().createObjectNode();
        out.put("threads", Parallel.threads());
        out.put("memory_read_gb_per_s", round(MemoryBandwidth.readGigabytesPerSecond()));
        System.err.printf("memory read bandwidth: %.1f GB/s (%d threads)%n", out.get("memory_read_gb_per_s").asDouble(),
                Parallel.threads());
        long load = System.nanoTime();
        Model m = Model.load(model, 0);
        System.err.printf("loaded %s in %.1f s%n", model, (System.nanoTime() - load) / 1e9);
        int maxBatch = Math.max(promptTokens, 64);
        for (int b : batches) maxBatch = Math.max(maxBatch, b);
        BatchingEngine engine = new BatchingEngine(m, new EngineOptions(maxBatch, promptTokens, Math.max(64, maxBatch / 4), 16, 4096));

        prefill(engine, 32); // warm-up: compiles the kernels
        double prefill = 0;
        for (int i = 0; i < repeat; i++) prefill = Math.max(prefill, prefill(engine, promptTokens));
        out.put("prefill_tokens_per_s", round(prefill));
        System.err.printf("prefill (%d-token prompt): %.1f tok/s%n", promptTokens, prefill);
        for (int b : batches) {
            decode(engine, b, Math.min(decodeTokens, 8));
            double best = 0;
            for (int i = 0; i < repeat; i++) best = Math.max(best, decode(engine, b, decodeTokens));
            out.put("decode_batch_" + b + "_tokens_per_s", round(best));
            System.err.printf("decode batch %d: %.1f tok/s aggregate%n", b, best);
        }
        if (meshExpertServices > 0) {
            engine = null;
            m = null;
            System.gc();
            new MeshBench(model, meshExpertServices, expertJavaOpts, attentionJavaOpts, prompt(16, 100).length,
                    decodeTokens, repeat).run(batches, out);
        }
        System.out.println(out);
        return 0;
    }

    private static double round(double v) {
        return Math.round(v * 10) / 10.0;
    }

    private double prefill(BatchingEngine engine, int tokens) {
        Generation g = engine.generate(java.util.List.of(new GenerationRequest("prefill", prompt(tokens, 7),
                new SamplingParams(1, 0f, 0, 1f, 0, null, true)))).get(0);
        return g.prefillTokensPerSecond();
    }

    /** Aggregate tokens per second over the steps in which all {@code batch} sequences decode. */
    private double decode(BatchingEngine engine, int batch, int tokens) {
        AtomicInteger produced = new AtomicInteger();
        TokenListener listener = new TokenListener() {
            @Override
            public void onToken(String id, int token) {
                produced.incrementAndGet();
            }

            @Override
            public void onFinish(Generation g) {}
        };
        for (int i = 0; i < batch; i++) {
            engine.submit(new GenerationRequest("d" + i, prompt(16, 100 + i),
                    new SamplingParams(tokens, 0f, 0, 1f, 0, null, true)), listener);
        }
        while (produced.get() < batch) engine.step();
        int before = produced.get();
        long t0 = System.nanoTime();
        while (engine.hasWork()) engine.step();
        long elapsed = System.nanoTime() - t0;
        return (produced.get() - before) / (elapsed / 1e9);
    }

    static int[] prompt(int length, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = 2 + random.nextInt(500);
        return ids;
    }
}
