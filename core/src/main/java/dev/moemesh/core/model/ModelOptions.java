package dev.moemesh.core.model;

import dev.moemesh.core.weights.WeightReader;

/**
 * How a model is held in memory.
 *
 * @param fp8Weights block-scaled FP8 weights kept FP8 (dequantised in the kernel) or rounded to bf16 at load
 * @param kvCache    the latent KV cache's element type
 */
public record ModelOptions(WeightReader.Fp8Weights fp8Weights, LatentKvCache.Format kvCache) {

    /** From {@code -Dmoemesh.fp8-weights} (bf16) and {@code -Dmoemesh.kv-cache} (bf16). */
    public static ModelOptions configured() {
        return new ModelOptions(WeightReader.Fp8Weights.configured(), LatentKvCache.Format.configured());
    }
}
