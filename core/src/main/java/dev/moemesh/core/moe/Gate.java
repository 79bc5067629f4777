package dev.moemesh.core.moe;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.config.ScoringFunction;
import dev.moemesh.core.config.TopkMethod;
import dev.moemesh.core.tensor.Matrix;

import java.util.Arrays;

/**
 * DeepSeek's MoE router: scores every routed expert for a token, picks the top-k (within the best groups
 * when the model limits groups) and weights them.
 *
 * <p>As in the reference {@code Gate}: scores are softmax or sigmoid of {@code x · Wᵀ}; the correction bias of
 * {@code noaux_tc} is added for choosing only; a group scores as its best expert, or as the sum of its best two
 * when the bias exists; the weights are the unbiased scores of the chosen experts, normalised when the config says
 * so, times the routed scaling factor. Ties go to the lower expert index.
 */
public final class Gate {
    private final ModelConfig config;
    private final Matrix weight; // (n_routed_experts, hidden)
    private final float[] bias;  // (n_routed_experts), null without noaux_tc
    private final boolean sigmoid;       // scoring_func is sigmoid
    private final boolean groupLimited;  // topk_method other than greedy, over more than one group

    public Gate(ModelConfig config, Matrix weight, float[] bias) {
        this.config = config;
        this.weight = weight;
        this.bias = bias;
        this.sigmoid = config.scoringFunc() == ScoringFunction.SIGMOID;
        this.groupLimited = config.topkMethod() != TopkMethod.GREEDY && config.nGroup() > 1;
    }

    public int topK() {
        return config.numExpertsPerTok();
    }

    /** Routes {@code rows} rows of {@code x} (rows, hidden); {@code logits} is (rows, n_routed) scratch. */
    public Routing route(float[] x, int rows, float[] logits) {
        int k = config.numExpertsPerTok();
        Routing into = new Routing(rows, k, new int[rows * k], new float[rows * k]);
        route(x, rows, logits, into, new float[scratchSize()]);
        return into;
    }

    /** Floats of scratch {@link #route(float[], int, float[], Routing, float[])} needs. */
    public int scratchSize() {
        return 3 * config.nRoutedExperts() + 2 * config.nGroup();
    }

    /**
     * Routes {@code rows} rows of {@code x} into {@code into}'s arrays (at least rows · top-k long), allocating
     * nothing; {@code logits} is (rows, n_routed) and {@code scratch} {@link #scratchSize()} floats of scratch.
     */
    public void route(float[] x, int rows, float[] logits, Routing into, float[] scratch) {
        int experts = config.nRoutedExperts();
        int k = config.numExpertsPerTok();
        weight.multiply(x, rows, logits);
        for (int r = 0; r < rows; r++) {
            score(logits, r * experts, scratch);
            routeOne(scratch, into.experts(), into.weights(), r * k);
        }
    }

    /** The scores of one row into {@code scores[0, n_routed)}. */
    private void score(float[] logits, int offset, float[] scores) {
        int n = config.nRoutedExperts();
        if (sigmoid) {
            for (int e = 0; e < n; e++) scores[e] = (float) (1.0 / (1.0 + Math.exp(-logits[offset + e])));
            return;
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < n; e++) max = Math.max(max, logits[offset + e]);
        float sum = 0f;
        for (int e = 0; e < n; e++) {
            scores[e] = (float) Math.exp(logits[offset + e] - max);
            sum += scores[e];
        }
        for (int e = 0; e < n; e++) scores[e] /= sum;
    }

    /**
     * Chooses and weights the experts of one token from its scores, {@code work[0, n)}; the rest of {@code work}
     * holds the biased choice scores, the taken flags and the group scores.
     */
    void routeOne(float[] work, int[] chosen, float[] weights, int out) {
        int n = config.nRoutedExperts();
        int k = config.numExpertsPerTok();
        int choice = n, taken = 2 * n;
        for (int e = 0; e < n; e++) {
            work[choice + e] = bias == null ? work[e] : work[e] + bias[e];
            work[taken + e] = 0f;
        }
        if (groupLimited) maskWeakGroups(work, choice, 3 * n);
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) {
                if (work[taken + e] == 0f && (best < 0 || work[choice + e] > work[choice + best])) best = e;
            }
            work[taken + best] = 1f;
            chosen[out + j] = best;
            weights[out + j] = work[best];
        }
        float sum = 0f;
        for (int j = 0; j < k; j++) sum += weights[out + j];
        boolean normalise = k > 1 && config.normTopkProb();
        for (int j = 0; j < k; j++) {
            float w = weights[out + j];
            if (normalise) w = w / (sum + 1e-20f);
            if (!normalise || config.scalesNormalisedWeights()) w = (float) (w * config.routedScalingFactor());
            weights[out + j] = w;
        }
    }

    /**
     * Keeps the experts of the {@code topk_group} best groups; the others become unchoosable. Choice scores are
     * {@code work[choice, choice + n)}; {@code work[groupWork, groupWork + 2 · groups)} holds group scores and kept flags.
     */
    private void maskWeakGroups(float[] work, int choice, int groupWork) {
        int groups = config.nGroup();
        int size = config.nRoutedExperts() / groups;
        int keep = groupWork + groups;
        for (int g = 0; g < groups; g++) {
            float first = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
            for (int e = choice + g * size; e < choice + (g + 1) * size; e++) {
                float c = work[e];
                if (c > first) {
                    second = first;
                    first = c;
                } else if (c > second) {
                    second = c;
                }
            }
            work[groupWork + g] = bias == null ? first : first + second;
            work[keep + g] = 0f;
        }
        for (int j = 0; j < config.topkGroup(); j++) {
            int best = -1;
            for (int g = 0; g < groups; g++) {
                if (work[keep + g] == 0f && (best < 0 || work[groupWork + g] > work[groupWork + best])) best = g;
            }
            work[keep + best] = 1f;
        }
        for (int g = 0; g < groups; g++) {
            if (work[keep + g] == 0f) {
                Arrays.fill(work, choice + g * size, choice + (g + 1) * size, Float.NEGATIVE_INFINITY);
            }
        }
    }
}
