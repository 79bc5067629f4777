package dev.moemesh.bench;

import dev.moemesh.core.tensor.Parallel;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the engine's time goes, phase by phase, and how busy the cores are in each. JFR's CPU-time sampler ({@code
 * jdk.CPUTimeSample}, JDK 25, Linux) samples every thread per millisecond of its CPU time (in practice per kernel tick,
 * 4 ms here) while the engine runs a figure; both threads always run (a worker spins between jobs), so the samples
 * are evenly spread in time. A sample of the engine's own thread names its phase by the innermost frame of the
 * model's code on its stack, and a compute worker's sample counts for the phase the engine's thread was in at that
 * moment. (The time-based {@code jdk.ExecutionSample} missed most of a worker's samples inside the kernels: a
 * worker that ran half the chunks looked idle 85 % of the time.) A phase's share is its share of the engine
 * thread's samples (wall-clock); its utilisation is the samples doing work (a kernel's chunk, or serial code) over
 * {@link Parallel#threads()} times the phase's samples. What is not work: a worker spinning for the next job, the
 * engine's thread waiting for the last chunks.
 *
 * <p>Arguments: a checkpoint directory, then figures ({@code prefill:256 decode:1 decode:32}, the default), run as
 * {@link EngineFigures} does (a decode figure's sequences decode {@code -Dcompare.decode-tokens}, here 64, after
 * their 16-token prompts). {@code -Dmoemesh.fp8-weights} and the engine's other settings apply as for {@code mesh
 * bench}; {@code -Dcompare.speculative-tokens=1} splits speculative decoding's steps, where "MTP module" is the
 * module's own work (its input projection and head) and its decoder block counts in the phases of any layer's.
 */
public final class PhaseSplit {
    /** Each figure runs until the recording holds about this much of the engine thread's time. */
    private static final Duration SAMPLED = Duration.ofSeconds(Long.getLong("phases.seconds", 10));

    private PhaseSplit() {}

    /** One phase's samples: the engine thread's, how many of those did work, and the workers' that did. */
    public record Phase(String name, int samples, int engineBusy, int workersBusy) {
        double utilisation(int threads) {
            return (engineBusy + workersBusy) / (double) (threads * samples);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: PhaseSplit CHECKPOINT_DIR [prefill:N|decode:B ...]");
            System.exit(2);
        }
        System.setProperty("compare.model", args[0]);
        if (System.getProperty("compare.decode-tokens") == null) {
            System.setProperty("compare.decode-tokens", "64"); // each decode run's prompts are a small part of it
        }
        List<String> figures = args.length > 1 ? Arrays.asList(args).subList(1, args.length)
                : List.of("prefill:256", "decode:1", "decode:32");
        EngineFigures engine = new EngineFigures();
        engine.apply("prefill", 32); // compiles the kernels before anything is recorded
        engine.apply("decode", 4);
        for (String figure : figures) {
            String[] f = figure.split(":");
            List<Phase> phases = measure(() -> engine.apply(f[0], Integer.parseInt(f[1])));
            System.out.println(table(figure + " (" + Parallel.threads() + " threads)", phases, Parallel.threads()));
        }
    }

    /** Runs {@code figure} under JFR until the engine thread has spent {@link #SAMPLED} in it, and splits the samples. */
    public static List<Phase> measure(Runnable figure) throws IOException {
        Path file = Files.createTempFile("phases", ".jfr");
        try (Recording recording = new Recording()) {
            recording.enable("jdk.CPUTimeSample").with("throttle", "1ms").withStackTrace();
            recording.start();
            long end = System.nanoTime() + SAMPLED.toNanos();
            do {
                figure.run();
            } while (System.nanoTime() < end);
            recording.stop();
            recording.dump(file);
            List<Phase> phases = split(RecordingFile.readAllEvents(file), Thread.currentThread().getName());
            if (phases.isEmpty()) {
                throw new IllegalStateException("JFR recorded no jdk.CPUTimeSample of this thread: the CPU-time"
                        + " sampler needs JDK 25 or later on Linux");
            }
            return phases;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    static List<Phase> split(List<RecordedEvent> events, String engineThread) {
        List<RecordedEvent> engine = new ArrayList<>(), workers = new ArrayList<>();
        for (RecordedEvent e : events) {
            var thread = e.getThread("eventThread");
            if (thread == null || e.getStackTrace() == null) continue;
            String name = thread.getJavaName();
            if (engineThread.equals(name)) engine.add(e);
            else if (name != null && name.startsWith(Parallel.WORKER_NAME_PREFIX)) workers.add(e);
        }
        engine.sort((a, b) -> a.getStartTime().compareTo(b.getStartTime()));
        long[] times = engine.stream().mapToLong(PhaseSplit::nanos).toArray();
        String[] phaseOf = new String[engine.size()];
        Map<String, int[]> counts = new LinkedHashMap<>(); // samples, engine busy, workers busy
        for (int i = 0; i < engine.size(); i++) {
            List<RecordedFrame> frames = engine.get(i).getStackTrace().getFrames();
            phaseOf[i] = phase(frames);
            int[] c = counts.computeIfAbsent(phaseOf[i], k -> new int[3]);
            c[0]++;
            if (!waiting(frames)) c[1]++;
        }
        for (RecordedEvent w : workers) {
            if (!inChunk(w.getStackTrace().getFrames())) continue;
            int i = nearest(times, nanos(w));
            if (i < 0 || Math.abs(times[i] - nanos(w)) > 2_000_000) continue; // no engine sample that tick
            counts.get(phaseOf[i])[2]++;
        }
        return counts.entrySet().stream().map(e -> new Phase(e.getKey(), e.getValue()[0], e.getValue()[1],
                e.getValue()[2])).sorted((a, b) -> Integer.compare(b.samples(), a.samples())).toList();
    }

    /** The phase of an engine-thread stack (innermost frame first): the innermost frame of the model's own code. */
    static String phase(List<RecordedFrame> frames) {
        for (int i = 0; i < frames.size(); i++) {
            String type = frames.get(i).getMethod().getType().getName();
            String method = frames.get(i).getMethod().getName();
            String simple = type.substring(type.lastIndexOf('.') + 1);
            switch (simple) {
                case "LatentKvCache":
                    return "MLA attention (scores, values)";
                case "Mla":
                    return method.equals("forward") ? "MLA projections, per-head absorption, RoPE"
                            : "MLA attention (scores, values)";
                case "RmsNorm":
                    return "norms";
                case "Gate":
                    return "router (gate, top-k)";
                case "Dispatcher":
                    return "dispatch and combine";
                case "LocalExperts":
                    return "routed experts";
                case "SwiGluMlp":
                    return switch (caller(frames, i, "LocalExperts", "MoeFeedForward")) {
                        case "LocalExperts" -> "routed experts";
                        case "MoeFeedForward" -> "shared expert";
                        default -> "dense FFN (first layer)";
                    };
                case "MoeFeedForward":
                    return "dispatch and combine";
                case "MultiTokenPredictor":
                    return "MTP module";
                case "Model":
                    return "embedding, final norm, lm_head";
                default:
                    if (type.startsWith("dev.moemesh.core.engine.")) return "engine (batching, sampling)";
            }
        }
        return "other";
    }

    /** Which of {@code callers} (simple class names) calls frame {@code from} most closely; "" when none does. */
    private static String caller(List<RecordedFrame> frames, int from, String... callers) {
        for (int i = from + 1; i < frames.size(); i++) {
            String type = frames.get(i).getMethod().getType().getName();
            for (String c : callers) {
                if (type.endsWith("." + c)) return c;
            }
        }
        return "";
    }

    /** The engine thread handed out a job and waits for the workers' last chunks. */
    private static boolean waiting(List<RecordedFrame> frames) {
        for (RecordedFrame f : frames) {
            String type = f.getMethod().getType().getName();
            if (!type.startsWith("dev.moemesh.")) continue;
            return type.equals(Parallel.class.getName()) && f.getMethod().getName().equals("submit");
        }
        return false;
    }

    /** A worker runs a chunk of a job (rather than spinning for the next one). */
    private static boolean inChunk(List<RecordedFrame> frames) {
        for (RecordedFrame f : frames) {
            if (f.getMethod().getType().getName().equals(Parallel.class.getName() + "$Job")
                    && f.getMethod().getName().equals("drain")) return true;
        }
        return false;
    }

    private static long nanos(RecordedEvent e) {
        return e.getStartTime().getEpochSecond() * 1_000_000_000L + e.getStartTime().getNano();
    }

    private static int nearest(long[] sorted, long t) {
        if (sorted.length == 0) return -1;
        int i = Arrays.binarySearch(sorted, t);
        if (i >= 0) return i;
        int after = -i - 1;
        if (after == 0) return 0;
        if (after == sorted.length) return sorted.length - 1;
        return t - sorted[after - 1] <= sorted[after] - t ? after - 1 : after;
    }

    static String table(String title, List<Phase> phases, int threads) {
        int total = phases.stream().mapToInt(Phase::samples).sum();
        int busy = phases.stream().mapToInt(p -> p.engineBusy() + p.workersBusy()).sum();
        StringBuilder s = new StringBuilder(String.format("%s: %d samples of the engine thread, cores busy %.0f %%%n",
                title, total, 100.0 * busy / ((double) threads * total)));
        s.append("| phase | share of wall-clock | cores busy |\n| --- | --- | --- |\n");
        for (Phase p : phases) {
            s.append(String.format("| %s | %.1f %% | %.0f %% |%n", p.name(), 100.0 * p.samples() / total,
                    100 * p.utilisation(threads)));
        }
        return s.toString();
    }
}
