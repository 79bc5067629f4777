package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.EngineStats;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
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

    @Option(names = "--speculative-tokens", defaultValue = "0", description = "also decode with speculative decoding,"
            + " the checkpoint's MTP module drafting this many tokens, alternating with plain decoding run by run;"
            + " reports both, their ratio and the acceptance rate, with --mesh through the mesh too (default: off)")
    int speculativeTokens;

    @Option(names = "--speculative-min-acceptance", defaultValue = "0.3", description = "with --speculative-tokens: the"
            + " share of its drafts a sequence must have accepted after 16 to go on drafting; 0 never stops"
            + " (default ${DEFAULT-VALUE})")
    double speculativeMinAcceptance;

    @Option(names = "--speculative-max-batch", defaultValue = "0", description = "with --speculative-tokens: greedy"
            + " sequences arriving while more than this many are in the engine do not draft; 0 sets no limit"
            + " (default ${DEFAULT-VALUE})")
    int speculativeMaxBatch;

    @Option(names = "--mesh", defaultValue = "0", description = "also run the decode figures through a local mesh of"
            + " this many expert services (separate processes, loopback gRPC), after the local ones (default: none)")
    int meshExpertServices;

    @Option(names = "--expert-java-opts", defaultValue = "", description = "JVM options of the --mesh expert services,"
            + " e.g. -Dmoemesh.threads=1 (default: none)")
    String expertJavaOpts;

    @Option(names = "--attention-java-opts", defaultValue = "", description = "JVM options of the --mesh attention"
            + " services, e.g. -Dmoemesh.spin-nanos=0 (default: none)")
    String attentionJavaOpts;

    /** "acceptance 86.2 %", or why there is none: no sequence drafted (above --speculative-max-batch, or stopped). */
    static String acceptance(long drafted, double rate) {
        return drafted == 0 ? "no drafts" : String.format("acceptance %.1f %%", 100 * rate);
    }

    @Override
    public Integer call() {
        ObjectNode out = new ObjectMapper().createObjectNode();
        out.put("threads", Parallel.threads());
        out.put("memory_read_gb_per_s", round(MemoryBandwidth.readGigabytesPerSecond()));
        System.err.printf("memory read bandwidth: %.1f GB/s (%d threads)%n", out.get("memory_read_gb_per_s").asDouble(),
                Parallel.threads());
        long load = System.nanoTime();
        Model m = Model.load(model, 0, null, ModelOptions.configured().withMtp(speculativeTokens > 0));
        System.err.printf("loaded %s in %.1f s%n", model, (System.nanoTime() - load) / 1e9);
        int maxBatch = Math.max(promptTokens, 64);
        for (int b : batches) maxBatch = Math.max(maxBatch, b);
        EngineOptions options = new EngineOptions(maxBatch, promptTokens,
                Math.min(Math.max(64, maxBatch / 4), maxBatch / (1 + speculativeTokens)), 16, 4096);
        BatchingEngine engine = new BatchingEngine(m, options);
        BatchingEngine speculating = speculativeTokens > 0
                ? new BatchingEngine(m, options.withSpeculativeTokens(speculativeTokens)
                .withSpeculativeMinAcceptance(speculativeMinAcceptance).withSpeculativeMaxBatch(speculativeMaxBatch))
                : null;

        prefill(engine, 32); // warm-up: compiles the kernels
        double prefill = 0;
        for (int i = 0; i < repeat; i++) prefill = Math.max(prefill, prefill(engine, promptTokens));
        out.put("prefill_tokens_per_s", round(prefill));
        System.err.printf("prefill (%d-token prompt): %.1f tok/s%n", promptTokens, prefill);
        for (int b : batches) {
            decode(engine, b, Math.min(decodeTokens, 8));
            if (speculating != null) decode(speculating, b, Math.min(decodeTokens, 8));
            double best = 0;
            double bestSpeculative = 0;
            EngineStats.Speculation before = speculating == null ? null : speculating.stats().speculation();
            for (int i = 0; i < repeat; i++) { // alternating, so both see the same state of the machine
                best = Math.max(best, decode(engine, b, decodeTokens));
                if (speculating != null) bestSpeculative = Math.max(bestSpeculative, decode(speculating, b, decodeTokens));
            }
            out.put("decode_batch_" + b + "_tokens_per_s", round(best));
            System.err.printf("decode batch %d: %.1f tok/s aggregate%n", b, best);
            if (speculating != null) {
                EngineStats.Speculation after = speculating.stats().speculation();
                long drafted = after.drafted() - before.drafted();
                long accepted = after.accepted() - before.accepted();
                long steps = after.decodeSteps() - before.decodeSteps();
                double acceptance = drafted == 0 ? 0 : (double) accepted / drafted;
                double perStep = steps == 0 ? 0 : (double) (steps + accepted) / steps;
                String key = "decode_batch_" + b + "_speculative_";
                out.put(key + "tokens_per_s", round(bestSpeculative));
                out.put(key + "speedup", Math.round(bestSpeculative / best * 100) / 100.0);
                out.put(key + "acceptance_rate", Math.round(acceptance * 1000) / 1000.0);
                out.put(key + "tokens_per_step", Math.round(perStep * 100) / 100.0);
                out.put(key + "drafted", drafted);
                System.err.printf("decode batch %d, %d speculative token(s): %.1f tok/s aggregate (x%.2f), %s, %.2f"
                        + " tokens per step%n", b, speculativeTokens, bestSpeculative, bestSpeculative / best,
                        acceptance(drafted, acceptance), perStep);
            }
        }
        if (meshExpertServices > 0) {
            engine = null;
            speculating = null;
            m = null;
            System.gc();
            new MeshBench(model, meshExpertServices, expertJavaOpts, attentionJavaOpts, prompt(16, 100).length,
                    decodeTokens, repeat, speculativeTokens, speculativeMinAcceptance, speculativeMaxBatch)
                    .run(batches, out);
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
            public void onToken(String id, int token, TokenLogprobs logprobs) {
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
