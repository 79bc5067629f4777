package dev.moemesh.bench;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.annotations.Mode;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the kernel benchmarks and prints each kernel's GFLOP/s next to the measured FMA peak of all cores.
 * Arguments: an optional regular expression of the benchmarks to run besides the peak (default: all); then any
 * {@code name=v1,v2} to narrow a parameter (e.g. {@code rows=1,16,64 shape=expert_gate_up,lm_head}).
 */
public final class KernelReport {
    private static final String[] JVM_ARGS = {"--add-modules", "jdk.incubator.vector",
            "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0", "-Xmx6g"};

    private KernelReport() {}

    public static void main(String[] args) throws RunnerException {
        String include = args.length > 0 ? args[0] : "MatrixProduct|RoutedExperts|MlaAttention";
        int cores = Runtime.getRuntime().availableProcessors();
        double peakOne = peak(1);
        double peakAll = peak(cores);
        System.out.printf("FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d%n", peakOne, peakAll, cores);

        ChainedOptionsBuilder kernels = options(include).mode(Mode.AverageTime).timeUnit(TimeUnit.NANOSECONDS);
        for (int i = 1; i < args.length; i++) {
            String[] p = args[i].split("=", 2);
            kernels.param(p[0], p[1].split(","));
        }
        Collection<RunResult> results = new Runner(kernels.build()).run();
        System.out.printf("%-40s %12s %10s %8s%n", "kernel", "us/op", "GFLOP/s", "of peak");
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark().replaceFirst(".*\\.(\\w+\\.\\w+)$", "$1");
            Map<String, String> p = new java.util.TreeMap<>();
            for (String key : r.getParams().getParamsKeys()) p.put(key, r.getParams().getParam(key));
            double ns = r.getPrimaryResult().getScore();
            long flops = flops(name, p);
            double gflops = flops / ns;
            System.out.printf("%-40s %12.1f %10.1f %7.0f%%%n", name + " " + p, ns / 1e3, gflops, 100 * gflops / peakAll);
        }
    }

    private static double peak(int threads) throws RunnerException {
        RunResult r = new Runner(options(FmaPeak.class.getSimpleName()).threads(threads).mode(Mode.Throughput)
                .timeUnit(TimeUnit.NANOSECONDS).build()).runSingle();
        return r.getPrimaryResult().getScore();
    }

    private static ChainedOptionsBuilder options(String include) {
        return new OptionsBuilder().include(include).forks(1).jvmArgsAppend(JVM_ARGS)
                .warmupIterations(3).warmupTime(TimeValue.seconds(1))
                .measurementIterations(5).measurementTime(TimeValue.seconds(1));
    }

    private static long flops(String name, Map<String, String> p) {
        int rows = Integer.parseInt(p.get("rows"));
        return switch (name) {
            case "MatrixProduct.multiply" -> Shapes.matrixFlops(p.get("shape"), rows);
            case "RoutedExperts.run" -> Shapes.expertFlops(rows);
            case "MlaAttention.forward" -> MlaAttention.flops(rows, Integer.parseInt(p.get("context")));
            default -> throw new IllegalArgumentException("no FLOP count for " + name);
        };
    }
}
