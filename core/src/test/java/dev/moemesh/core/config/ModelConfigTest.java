package dev.moemesh.core.config;


import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelConfigTest {
    /** DeepSeek-V3's published config.json. */
    static final String V3 = """
            {"architectures": ["DeepseekV3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
             "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
                          "AutoModel": "modeling_deepseek.DeepseekV3Model",
                          "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"},
             "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1,
             "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02,
             "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
             "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8,
             "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128,
             "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 128,
             "num_nextn_predict_layers": 1, "pretraining_tp": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
             "qk_rope_head_dim": 64,
             "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                     "weight_block_size": [128, 128]},
             "rms_norm_eps": 1e-06,
             "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                              "original_max_position_embeddings": 4096, "type": "yarn"},
             "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
             "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
             "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280}
            """;

    /** DeepSeek-V2-Lite's published config.json. */
    static final String V2_LITE = """
            {"architectures": ["DeepseekV2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
             "aux_loss_alpha": 0.001, "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1,
             "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 10944,
             "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v2",
             "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 64,
             "n_shared_experts": 2, "norm_topk_prob": false, "num_attention_heads": 16, "num_experts_per_tok": 6,
             "num_hidden_layers": 27, "num_key_value_heads": 16, "pretraining_tp": 1, "q_lora_rank": null,
             "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
             "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                              "original_max_position_embeddings": 4096, "type": "yarn"},
             "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
             "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy", "torch_dtype": "bfloat16",
             "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 102400}
            """;

    private static ModelConfig write(Path dir, String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
        return ModelConfig.load(dir);
    }

    @Test
    void parsesDeepSeekV3(@TempDir Path dir) throws IOException {
        ModelConfig c = write(dir, V3);
        assertEquals(1536, c.qLoraRank());
        assertEquals(TopkMethod.NOAUX_TC, c.topkMethod());
        assertEquals(ScoringFunction.SIGMOID, c.scoringFunc());
        assertEquals(8, c.nGroup());
        assertEquals(4, c.topkGroup());
        assertTrue(c.normTopkProb());
        assertEquals(2.5, c.routedScalingFactor());
        assertEquals(40, c.yarn().factor());
        assertEquals(4096, c.yarn().originalMaxPositionEmbeddings());
        assertEquals(1.0, c.yarn().mscaleAllDim());
        assertArrayEquals(new int[] {128, 128}, c.fp8BlockSize());
        assertFalse(c.isMoeLayer(2));
        assertTrue(c.isMoeLayer(3));
        assertEquals(192, c.qkHeadDim());
        assertTrue(c.scalesNormalisedWeights());
    }

    @Test
    void parsesDeepSeekV2Lite(@TempDir Path dir) throws IOException {
        ModelConfig c = write(dir, V2_LITE);
        assertEquals(0, c.qLoraRank(), "q_lora_rank null means a plain q projection");
        assertEquals(TopkMethod.GREEDY, c.topkMethod());
        assertEquals(ScoringFunction.SOFTMAX, c.scoringFunc());
        assertEquals(2, c.nSharedExperts());
        assertFalse(c.normTopkProb());
        assertEquals(0.707, c.yarn().mscale());
        assertNull(c.fp8BlockSize());
        assertEquals(100001, c.eosTokenId());
        assertFalse(c.scalesNormalisedWeights());
    }

    @Test
    void unsupportedValuesAreRefusedNamingTheField(@TempDir Path dir) {
        String[][] cases = {
                {"\"scoring_func\": \"sigmoid\"", "\"scoring_func\": \"relu\"", "scoring_func"},
                {"\"topk_method\": \"noaux_tc\"", "\"topk_method\": \"random\"", "topk_method"},
                {"\"type\": \"yarn\"", "\"type\": \"linear\"", "rope_scaling.type"},
                {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act"},
                {"\"model_type\": \"deepseek_v3\"", "\"model_type\": \"llama\"", "model_type"},
                {"\"topk_group\": 4", "\"topk_group\": 9", "topk_group"},
                {"\"fmt\": \"e4m3\"", "\"fmt\": \"e5m2\"", "quantization_config.fmt"},
                {"\"kv_lora_rank\": 512,", "", "kv_lora_rank"},
        };
        for (String[] c : cases) {
            String json = V3.replace(c[0], c[1]);
            var e = assertThrows(IllegalArgumentException.class, () -> write(dir, json), c[2]);
            assertTrue(e.getMessage().contains(c[2]) && e.getMessage().contains("config.json"), e.getMessage());
        }
    }

    @Test
    void missingOrBrokenConfigSaysSo(@TempDir Path dir) throws IOException {
        var missing = assertThrows(IllegalArgumentException.class, () -> ModelConfig.load(dir));
        assertTrue(missing.getMessage().contains("no config.json"), missing.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": ");
        var broken = assertThrows(IllegalArgumentException.class, () -> ModelConfig.load(dir));
        assertTrue(broken.getMessage().contains("not valid JSON"), broken.getMessage());
    }
}
