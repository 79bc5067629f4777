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

    /**
     * The tokens sampling may pick, most likely first, and their weights (proportional to the probabilities, summing
     * to {@code total}): what temperature, top-k and top-p leave of one row of logits.
     */
    record Distribution(int[] tokens, double[] weights, int size, double total) {

        /** The probability of {@code token}: 0 when it was cut. */
        double probability(int token) {
            for (int j = 0; j < size; j++) if (tokens[j] == token) return weights[j] / total;
            return 0;
        }

        /** Every token's probability, (vocab). */
        double[] dense(int vocab) {
            double[] p = new double[vocab];
            for (int j = 0; j < size; j++) p[tokens[j]] = weights[j] / total;
            return p;
        }
    }

    /** The next token from {@code logits[offset .. offset + vocab)}. */
    public int sample(float[] logits, int offset, int vocab) {
        if (params.isGreedy()) return argmax(logits, offset, vocab);
        return draw(distribution(logits, offset, vocab));
    }

    /** What {@link #sample} draws from when sampling is not greedy. */
    Distribution distribution(float[] logits, int offset, int vocab) {
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
        int[] tokens = new int[keep];
        for (int j = 0; j < keep; j++) tokens[j] = (int) keyed[j];
        return new Distribution(tokens, p, keep, total);
    }

    /** One token of {@code d}, by one uniform draw of this sequence's stream. */
    int draw(Distribution d) {
        double u = random.nextDouble() * d.total();
        for (int j = 0; j < d.size(); j++) {
            u -= d.weights()[j];
            if (u < 0) return d.tokens()[j];
        }
        return d.tokens()[d.size() - 1];
    }

    /**
     * Speculative sampling's verdict on {@code draft}, drawn from the draft distribution {@code q} (dense, (vocab)),
     * where the main model's distribution is {@code p} (Leviathan et al. 2023, Chen et al. 2023): the draft itself
     * with probability min(1, p(draft) / q(draft)), else a draw from max(0, p - q) normalised, which is never the
     * draft. Whatever q, the token returned is distributed as p.
     */
    int speculate(Distribution p, double[] q, int draft) {
        double pd = p.probability(draft);
        if (random.nextDouble() * q[draft] < pd) return draft;
        double[] residual = new double[p.size()];
        double total = 0;
        for (int j = 0; j < p.size(); j++) {
            residual[j] = Math.max(0, p.weights()[j] / p.total() - q[p.tokens()[j]]);
            total += residual[j];
        }
        if (!(total > 0)) return draw(p); // p equals q up to rounding: nothing left to correct
        return draw(new Distribution(p.tokens(), residual, p.size(), total));
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
