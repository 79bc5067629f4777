package dev.moemesh.load.workload;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The requests of a run: sizes from two length distributions or a trace file, prompt token ids drawn from the
 * vocabulary (uniformly, or, to skew the routing, from a handful of ids), all from one seed so a run can be repeated.
 *
 * @param prompt     prompt lengths (ignored when a trace is given)
 * @param output     tokens to generate (ignored when a trace is given)
 * @param trace      request sizes in order, cycled; empty for the distributions
 * @param vocabulary token ids are drawn from {@code [0, vocabulary)}
 * @param hotTokens  0: every id of the vocabulary; else the prompts use only this many ids, chosen by the seed, so
 *                   most rows go to the few experts those tokens' hidden states prefer
 * @param distinct   0: every request is new; else the requests repeat this many (prompt, output length) pairs, drawn
 *                   at random, so each answer can be checked against a reference answer of the same request
 */
public record Workload(Lengths prompt, Lengths output, List<Shape> trace, int vocabulary, int hotTokens, long seed,
                       int distinct) {
    public Workload {
        trace = List.copyOf(trace);
        if (vocabulary < 2) throw new IllegalArgumentException("the vocabulary needs at least 2 ids, got " + vocabulary);
        if (hotTokens < 0 || hotTokens > vocabulary) {
            throw new IllegalArgumentException("hot tokens must be in [0, " + vocabulary + "], got " + hotTokens);
        }
        if (distinct < 0) throw new IllegalArgumentException("distinct requests must be 0 (all new) or more, got " + distinct);
    }

    public Workload(Lengths prompt, Lengths output, List<Shape> trace, int vocabulary, int hotTokens, long seed) {
        this(prompt, output, trace, vocabulary, hotTokens, seed, 0);
    }

    public static Workload of(Lengths prompt, Lengths output, int vocabulary) {
        return new Workload(prompt, output, List.of(), vocabulary, 0, 1);
    }

    public Workload withHotTokens(int n) {
        return new Workload(prompt, output, trace, vocabulary, n, seed, distinct);
    }

    public Workload withSeed(long s) {
        return new Workload(prompt, output, trace, vocabulary, hotTokens, s, distinct);
    }

    public Workload withTrace(List<Shape> shapes) {
        return new Workload(prompt, output, shapes, vocabulary, hotTokens, seed, distinct);
    }

    public Workload withDistinct(int n) {
        return new Workload(prompt, output, trace, vocabulary, hotTokens, seed, n);
    }

    /** What the report says of the workload. */
    public String describe() {
        String sizes = trace.isEmpty() ? "prompt " + prompt + ", output " + output : "trace of " + trace.size() + " sizes";
        return sizes + ", " + (hotTokens == 0 ? "token ids uniform over " + vocabulary : hotTokens + " hot token ids of "
                + vocabulary) + ", seed " + seed + (distinct == 0 ? "" : ", " + distinct + " distinct requests repeated");
    }

    /** The sequence of requests this workload makes, ids prefixed by {@code idPrefix}. */
    public Source source(String idPrefix) {
        return new Source(idPrefix);
    }

    /** Makes the requests one after another; not thread-safe (one scheduler thread asks). */
    public final class Source {
        private final String prefix;
        private final SplittableRandom rng = new SplittableRandom(seed);
        private final int[] hot;
        private LoadRequest[] pool;
        private long count;

        private Source(String prefix) {
            this.prefix = prefix;
            SplittableRandom pick = new SplittableRandom(seed ^ 0x5DEECE66DL);
            hot = new int[hotTokens];
            for (int i = 0; i < hotTokens; i++) hot[i] = pick.nextInt(1, vocabulary);
        }

        public LoadRequest next() {
            long n = count++;
            if (distinct == 0) return fresh(prefix + "-" + n, n);
            LoadRequest r = distinctRequests().get(rng.nextInt(distinct));
            return new LoadRequest(prefix + "-" + n, r.promptIds(), r.maxTokens());
        }

        /** The {@code distinct} requests this source repeats (ids empty), in order; empty when every request is new. */
        public List<LoadRequest> distinctRequests() {
            if (distinct > 0 && pool == null) {
                pool = new LoadRequest[distinct];
                for (int i = 0; i < distinct; i++) pool[i] = fresh("", i);
            }
            return pool == null ? List.of() : List.of(pool);
        }

        private LoadRequest fresh(String id, long index) {
            Shape shape = trace.isEmpty() ? new Shape(prompt.sample(rng), output.sample(rng))
                    : trace.get((int) (index % trace.size()));
            int[] ids = new int[shape.promptTokens()];
            for (int i = 0; i < ids.length; i++) ids[i] = hot.length == 0 ? rng.nextInt(1, vocabulary) : hot[rng.nextInt(hot.length)];
            return new LoadRequest(id, ids, shape.outputTokens());
        }
    }

    /**
     * Reads request sizes from a trace file: one request a line, {@code prompt_tokens,output_tokens}; blank lines
     * and lines starting with {@code #} are skipped.
     */
    public static List<Shape> readTrace(Path file) {
        List<Shape> shapes = new ArrayList<>();
        try {
            int n = 0;
            for (String line : Files.readAllLines(file)) {
                n++;
                String s = line.strip();
                if (s.isEmpty() || s.startsWith("#")) continue;
                String[] f = s.split("\\s*[,\\t ]\\s*");
                try {
                    if (f.length != 2) throw new IllegalArgumentException("two numbers expected");
                    shapes.add(new Shape(Integer.parseInt(f[0]), Integer.parseInt(f[1])));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(file + " line " + n + ": expected 'prompt_tokens,output_tokens',"
                            + " got '" + s + "' (" + e.getMessage() + ")");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the trace " + file + ": " + e.getMessage(), e);
        }
        if (shapes.isEmpty()) throw new IllegalArgumentException("the trace " + file + " has no request");
        return shapes;
    }
}
