package dev.moemesh.bench;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Engine builds side by side in one JVM, figure by figure, alternating which goes first: on a shared machine the
 * load others put on it falls on all of them alike, so their ratios hold where their absolute figures do not.
 *
 * <p>Arguments: rounds, then one {@code LIB_DIR[@MODEL[@FP8_WEIGHTS[@KEY=VALUE...]]]} per build, {@code LIB_DIR}
 * holding its jars ({@code cli/target/lib} of a built checkout), each {@code KEY=VALUE} a system property set while
 * that build loads and warms up (e.g. {@code moemesh.vector-bits=256}: its kernels' vector width; {@code
 * moemesh.threads=4}: its compute threads). {@code -Dcompare.figures} (default
 * {@code prefill:64,prefill:256,decode:1,decode:8,decode:32}), {@code -Dcompare.decode-tokens} (16). Prints each
 * round, then per figure each build's median and range and each build's ratio to the first, median and range,
 * in wall-clock and per CPU-second.
 */
public final class EngineComparison {
    private EngineComparison() {}

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        int k = args.length - 1;
        URL self = EngineComparison.class.getProtectionDomain().getCodeSource().getLocation();
        BiFunction<String, Integer, Double>[] builds = new BiFunction[k];
        for (int i = 0; i < k; i++) {
            String[] spec = args[i + 1].split("@");
            List<URL> urls = new ArrayList<>(List.of(self));
            try (var jars = Files.list(Path.of(spec[0]))) {
                for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList()) {
                    if (!jar.getFileName().toString().startsWith("kernel-benchmarks")) urls.add(jar.toUri().toURL());
                }
            }
            System.setProperty("compare.model", spec.length > 1 ? spec[1] : "/tmp/bench");
            System.setProperty("moemesh.fp8-weights", spec.length > 2 ? spec[2] : "bf16");
            List<String> set = new ArrayList<>();
            for (int j = 3; j < spec.length; j++) {
                String[] kv = spec[j].split("=", 2);
                System.setProperty(kv[0], kv[1]);
                set.add(kv[0]);
            }
            ClassLoader loader = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
            builds[i] = (BiFunction<String, Integer, Double>) loader.loadClass(EngineFigures.class.getName())
                    .getConstructor().newInstance();
            builds[i].apply("prefill", 32); // warm-up: compiles the kernels
            builds[i].apply("decode", 4);
            // read by the build's classes as they load or first compute (moemesh.threads: the pool starts with the
            // first product); not the next build's
            set.forEach(System::clearProperty);
            System.out.printf("build %d = %s: greedy tokens hash %.0f%n", i, args[i + 1], builds[i].apply("tokens", 12));
        }
        String[] figures = System.getProperty("compare.figures", "prefill:64,prefill:256,decode:1,decode:8,decode:32")
                .split(",");
        Map<String, List<double[]>> results = new LinkedHashMap<>();
        for (int r = 0; r < rounds; r++) {
            for (String f : figures) {
                String[] p = f.split(":");
                double[] wall = new double[k], cpu = new double[k];
                for (int j = 0; j < k; j++) {
                    int i = r % 2 == 0 ? j : k - 1 - j;
                    wall[i] = builds[i].apply(p[0], Integer.parseInt(p[1]));
                    cpu[i] = builds[i].apply("cpu", 0);
                }
                results.computeIfAbsent(f + " tok/s", x -> new ArrayList<>()).add(wall);
                results.computeIfAbsent(f + " tok/cpu-s", x -> new ArrayList<>()).add(cpu);
                System.out.printf("round %d %s tok/s %s per cpu-s %s%n", r, f, round(wall), round(cpu));
            }
        }
        for (var e : results.entrySet()) {
            StringBuilder line = new StringBuilder(e.getKey());
            for (int i = 0; i < k; i++) {
                final int b = i;
                double[] v = e.getValue().stream().mapToDouble(x -> x[b]).sorted().toArray();
                line.append(String.format("  build%d %.1f [%.1f-%.1f]", i, v[v.length / 2], v[0], v[v.length - 1]));
            }
            for (int i = 1; i < k; i++) {
                final int b = i;
                double[] v = e.getValue().stream().mapToDouble(x -> x[b] / x[0]).sorted().toArray();
                line.append(String.format("  build%d/build0 %.2f [%.2f-%.2f]", i, v[v.length / 2], v[0], v[v.length - 1]));
            }
            System.out.println(line);
        }
    }

    private static String round(double[] v) {
        return Arrays.toString(Arrays.stream(v).map(x -> Math.round(x * 10) / 10.0).toArray());
    }
}
