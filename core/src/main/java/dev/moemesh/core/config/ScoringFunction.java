package dev.moemesh.core.config;

/** {@code scoring_func}: how the gate turns an expert's logit into its score. */
public enum ScoringFunction {
    SOFTMAX,
    SIGMOID
}
