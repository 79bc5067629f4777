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

    public Gate(ModelConfig config, Matrix weight, float[] bias) {
        this.config = config;
        this.weight = weight;
        this.bias = bias;
    }

    public int topK() {
        return config.numExpertsPerTok();
    }

    /** Routes {@code rows} rows of {@code x} (rows, hidden); {@code logits} is (rows, n_routed) scratch. */
    public Routing route(float[] x, int rows, float[] logits) {
        int experts = config.nRoutedExperts();
        int k = config.numExpertsPerTok();
        weight.multiply(x, rows, logits);
        int[] chosen = new int[rows * k];
        float[] weights = new float[rows * k];
        float[] scores = new float[experts];
        float[] choice = new float[experts];
        for (int r = 0; r < rows; r++) {
            score(logits, r * experts, scores);
            routeOne(scores, choice, chosen, weights, r * k);
        }
        return new Routing(rows, k, chosen, weights);
    }

    private void score(float[] logits, int offset, float[] scores) {
        int n = scores.length;
        if (config.scoringFunc() == ScoringFunction.SIGMOID) {
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

    /** Chooses and weights the experts of one token from its scores. */
    void routeOne(float[] scores, float[] choice, int[] chosen, float[] weights, int out) {
        int n = scores.length;
        int k = config.numExpertsPerTok();
        for (int e = 0; e < n; e++) choice[e] = bias == null ? scores[e] : scores[e] + bias[e];
        if (config.topkMethod() != TopkMethod.GREEDY && config.nGroup() > 1) maskWeakGroups(choice);
        boolean[] taken = new boolean[n];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) {
                if (!taken[e] && (best < 0 || choice[e] > choice[best])) best = e;
            }
            taken[best] = true;
            chosen[out + j] = best;
            weights[out + j] = scores[best];
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

    /** Keeps the experts of the {@code topk_group} best groups; the others become unchoosable. */
    private void maskWeakGroups(float[] choice) {
        int groups = config.nGroup();
        int size = choice.length / groups;
        float[] groupScore = new float[groups];
        for (int g = 0; g < groups; g++) {
            float first = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
            for (int e = g * size; e < (g + 1) * size; e++) {
                float c = choice[e];
                if (c > first) {
                    second = first;
                    first = c;
                } else if (c > second) {
                    second = c;
                }
            }
            groupScore[g] = bias == null ? first : first + second;
        }
        boolean[] keep = new boolean[groups];
        for (int j = 0; j < config.topkGroup(); j++) {
            int best = -1;
            for (int g = 0; g < groups; g++) {
                if (!keep[g] && (best < 0 || groupScore[g] > groupScore[best])) best = g;
            }
            keep[best] = true;
        }
        for (int g = 0; g < groups; g++) {
            if (!keep[g]) Arrays.fill(choice, g * size, (g + 1) * size, Float.NEGATIVE_INFINITY);
        }
    }
}
