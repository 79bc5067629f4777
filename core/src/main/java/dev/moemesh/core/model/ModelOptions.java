package dev.moemesh.core.model;

import dev.moemesh.core.weights.WeightReader;

/**
 * How a model is held in memory.
 *
 * @param fp8Weights block-scaled FP8 weights kept FP8 (dequantised in the kernel) or rounded to bf16 at load
 * @param kvCache    the latent KV cache's element type
 * @param mtp        whether the multi-token-prediction module is loaded too (it drafts for speculative decoding;
 *                   the checkpoint must have one)
 */
public record ModelOptions(WeightReader.Fp8Weights fp8Weights, LatentKvCache.Format kvCache, boolean mtp) {

    /** From {@code -Dmoemesh.fp8-weights} (bf16) and {@code -Dmoemesh.kv-cache} (bf16); without the MTP module. */
    public static ModelOptions configured() {
        return new ModelOptions(WeightReader.Fp8Weights.configured(), LatentKvCache.Format.configured(), false);
    }

    public ModelOptions withMtp(boolean load) {
        return new ModelOptions(fp8Weights, kvCache, load);
    }
}
