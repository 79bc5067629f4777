package dev.moemesh.core.config;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * config.json comes with a checkpoint, from whoever made it: whatever its bytes, parsing gives a configuration whose
 * sizes the engine can allocate from, or an {@link IllegalArgumentException} naming the file and the field; never
 * another exception. Seeds: src/test/resources/dev/moemesh/core/config/ModelConfigFuzzTestInputs.
 */
class ModelConfigFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path FILE = Path.of("fuzzed", "config.json");

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"\"model_type\"", "\"deepseek_v3\"", "\"deepseek_v2\"", "\"hidden_size\"", "\"vocab_size\"",
            "\"intermediate_size\"", "\"moe_intermediate_size\"", "\"num_hidden_layers\"", "\"num_attention_heads\"",
            "\"q_lora_rank\"", "\"kv_lora_rank\"", "\"qk_nope_head_dim\"", "\"qk_rope_head_dim\"", "\"v_head_dim\"",
            "\"n_routed_experts\"", "\"n_shared_experts\"", "\"num_experts_per_tok\"", "\"n_group\"", "\"topk_group\"",
            "\"topk_method\"", "\"noaux_tc\"", "\"greedy\"", "\"group_limited_greedy\"", "\"scoring_func\"",
            "\"sigmoid\"", "\"softmax\"", "\"first_k_dense_replace\"", "\"moe_layer_freq\"", "\"rope_scaling\"",
            "\"yarn\"", "\"factor\"", "\"original_max_position_embeddings\"", "\"quantization_config\"",
            "\"weight_block_size\"", "\"eos_token_id\"", "\"rms_norm_eps\"", "\"rope_theta\"", "-1", "0", "1e308"})
    void configJsonParsesIntoSizesOrIsRefusedByField(byte[] bytes) {
        JsonNode json;
        try {
            json = JSON.readTree(bytes);
        } catch (java.io.IOException notJson) {
            return; // ModelConfig.load names the file as not valid JSON
        }
        if (json == null) return;
        ModelConfig c;
        try {
            c = ModelConfig.parse(json, FILE);
        } catch (IllegalArgumentException refused) {
            assertTrue(refused.getMessage().startsWith(FILE + ":"), refused.getMessage());
            return;
        }
        assertTrue(c.vocabSize() >= 1 && c.hiddenSize() >= 1 && c.intermediateSize() >= 1 && c.numLayers() >= 1
                && c.numHeads() >= 1 && c.kvLoraRank() >= 1 && c.qkNopeHeadDim() >= 1 && c.qkRopeHeadDim() >= 2
                && c.vHeadDim() >= 1 && c.qLoraRank() >= 0 && c.maxPositionEmbeddings() >= 1, "a size below 1: " + c);
        assertTrue(c.nRoutedExperts() == 0 || (c.moeIntermediateSize() >= 1 && c.nSharedExperts() >= 0),
                "routed experts without a size: " + c);
        assertTrue(c.firstKDenseReplace() >= 0 && c.nSharedExperts() >= 0, "a negative count: " + c);
        assertTrue(Double.isFinite(c.rmsNormEps()) && c.rmsNormEps() > 0 && Double.isFinite(c.ropeTheta())
                && c.ropeTheta() > 0 && Double.isFinite(c.routedScalingFactor()), "a constant out of range: " + c);
        assertTrue(c.bosTokenId() >= 0 && c.eosTokenId() >= 0, "a negative special token: " + c);
        if (c.yarn() != null) {
            assertTrue(Double.isFinite(c.yarn().factor()) && c.yarn().originalMaxPositionEmbeddings() >= 1
                    && Double.isFinite(c.yarn().mscale()) && Double.isFinite(c.yarn().mscaleAllDim())
                    && Double.isFinite(c.yarn().betaFast()) && Double.isFinite(c.yarn().betaSlow()), "yarn: " + c);
        }
        if (c.fp8BlockSize() != null) {
            assertTrue(c.fp8BlockSize()[0] >= 1 && c.fp8BlockSize()[1] >= 1, "an empty FP8 block: " + c);
        }
    }
}
