package dev.moemesh.core.engine;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks a token from logits: greedy argmax, or temperature sampling with top-k and top-p cuts, from a seeded stream. */
public final class Sampler {
    /** Tokens this far below the best (in logit/temperature units) carry under e^-30 of the mass and are left out. */
    private static final float NEGLIGIBLE = 30f;

    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
    }

    /** The next token from {@code logits[offset .. offset + vocab)}. */
    public int sample(float[] logits, int offset, int vocab) {
        if (params.isGreedy()) return argmax(logits, offset, vocab);
        float t = params.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i] / t);
        long[] keyed = new long[vocab];
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            float z = logits[offset + i] / t - max;
            if (z >= -NEGLIGIBLE) keyed[n++] = ((long) Float.floatToIntBits(-z) << 32) | i; // -z >= 0: bits order as values
        }
        Arrays.sort(keyed, 0, n); // most likely first; ties by lower id
        int keep = params.topK() > 0 ? Math.min(n, params.topK()) : n;
        double[] p = new double[keep];
        double total = 0;
        for (int j = 0; j < keep; j++) {
            p[j] = Math.exp(-Float.intBitsToFloat((int) (keyed[j] >>> 32)));
            total += p[j];
        }
        if (params.topP() < 1f) {
            double cumulative = 0;
            int cut = keep;
            for (int j = 0; j < keep; j++) {
                cumulative += p[j] / total;
                if (cumulative >= params.topP()) {
                    cut = j + 1;
                    break;
                }
            }
            keep = cut;
            total = 0;
            for (int j = 0; j < keep; j++) total += p[j];
        }
        double u = random.nextDouble() * total;
        for (int j = 0; j < keep; j++) {
            u -= p[j];
            if (u < 0) return (int) keyed[j];
        }
        return (int) keyed[keep - 1];
    }

    /** Whether this sequence decodes greedily (argmax, no random draws). */
    boolean isGreedy() {
        return params.isGreedy();
    }

    /** The index of the largest logit; the lowest index among equals. */
    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (logits[offset + i] > logits[offset + best]) best = i;
        }
        return best;
    }
}
