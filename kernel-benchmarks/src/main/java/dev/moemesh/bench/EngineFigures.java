package dev.moemesh.bench;

import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Proxy;
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
 * {@code ("tokens", n)} a hash of n greedy tokens. Uses only API that main e245dfa has too; the engine's class
 * ({@code BatchingEngine}, {@code LocalEngine} before) and the listener's {@code onToken} (which gained an argument)
 * are looked up at run time so one harness drives both. With {@code -Dcompare.speculative-tokens=K} (K above 0, this
 * project's builds only) the model loads its MTP module and the engine drafts K tokens a sequence a step.
 */
public final class EngineFigures implements BiFunction<String, Integer, Double> {
    private final Object engine;
    private final MethodHandle generate, submit, step, hasWork;
    private final int decodeTokens;
    private double perCpuSecond;

    public EngineFigures() throws ReflectiveOperationException {
        Path dir = Path.of(System.getProperty("compare.model", "/tmp/bench"));
        int drafts = Integer.getInteger("compare.speculative-tokens", 0);
        Model m = drafts == 0 ? Model.load(dir, 0)
                : Model.load(dir, 0, null, ModelOptions.configured().withMtp(true));
        Class<?> type;
        try {
            type = Class.forName("dev.moemesh.core.engine.BatchingEngine");
        } catch (ClassNotFoundException renamed) {
            type = Class.forName("dev.moemesh.core.engine.LocalEngine");
        }
        EngineOptions options = new EngineOptions(256, 256, 64, 16, 4096);
        if (drafts > 0) { // looked up: main e245dfa's options have no drafts
            options = (EngineOptions) EngineOptions.class.getMethod("withSpeculativeTokens", int.class)
                    .invoke(options, drafts);
        }
        engine = type.getConstructor(Model.class, EngineOptions.class).newInstance(m, options);
        MethodHandles.Lookup lookup = MethodHandles.publicLookup();
        generate = lookup.findVirtual(type, "generate", MethodType.methodType(List.class, List.class)).bindTo(engine);
        submit = lookup.findVirtual(type, "submit",
                MethodType.methodType(void.class, GenerationRequest.class, TokenListener.class)).bindTo(engine);
        step = lookup.findVirtual(type, "step", MethodType.methodType(void.class)).bindTo(engine);
        hasWork = lookup.findVirtual(type, "hasWork", MethodType.methodType(boolean.class)).bindTo(engine);
        decodeTokens = Integer.getInteger("compare.decode-tokens", 16);
    }

    @Override
    public Double apply(String figure, Integer n) {
        try {
            return figure(figure, n);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private double figure(String figure, int n) throws Throwable {
        return switch (figure) {
            case "cpu" -> perCpuSecond;
            case "prefill" -> prefill(n);
            case "decode" -> decode(n);
            case "tokens" -> (double) Arrays.hashCode(generate(List.of(new GenerationRequest("t", prompt(16, 3),
                    new SamplingParams(n, 0f, 0, 1f, 0, null, true)))).get(0).tokenIds());
            default -> throw new IllegalArgumentException("unknown figure " + figure);
        };
    }

    @SuppressWarnings("unchecked")
    private List<Generation> generate(List<GenerationRequest> requests) throws Throwable {
        return (List<Generation>) generate.invoke(requests);
    }

    private double prefill(int tokens) throws Throwable {
        long c0 = cpuNanos();
        Generation g = generate(List.of(new GenerationRequest("p", prompt(tokens, 7),
                new SamplingParams(1, 0f, 0, 1f, 0, null, true)))).get(0);
        perCpuSecond = tokens / ((cpuNanos() - c0) / 1e9);
        return g.prefillTokensPerSecond();
    }

    private double decode(int batch) throws Throwable {
        AtomicInteger produced = new AtomicInteger();
        TokenListener listener = (TokenListener) Proxy.newProxyInstance(TokenListener.class.getClassLoader(),
                new Class<?>[] {TokenListener.class}, (proxy, method, args) -> {
                    return switch (method.getName()) {
                        case "onToken" -> {
                            produced.incrementAndGet();
                            yield null;
                        }
                        case "hashCode" -> System.identityHashCode(proxy);
                        case "equals" -> proxy == args[0];
                        case "toString" -> "decode listener";
                        default -> null;
                    };
                });
        for (int i = 0; i < batch; i++) {
            submit.invoke(new GenerationRequest("d" + i, prompt(16, 100 + i),
                    new SamplingParams(decodeTokens, 0f, 0, 1f, 0, null, true)), listener);
        }
        while (produced.get() < batch) step.invoke();
        int before = produced.get();
        long t0 = System.nanoTime(), c0 = cpuNanos();
        while ((boolean) hasWork.invoke()) step.invoke();
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
