package dev.moemesh.core.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Locale;

/** The shapes of the checkpoints this project writes for tests, the local demo and benchmarks. */
public enum Preset {
    /** DeepSeek-V3-shaped and tiny: q-LoRA, sigmoid + bias routing over groups, YaRN. */
    TINY_V3,
    /** DeepSeek-V2-Lite-shaped and tiny: plain q projection, softmax greedy routing, two shared experts. */
    TINY_V2LITE,
    /** V3-shaped, about 1.3 GB in bf16: the benchmark model. */
    BENCH;

    public String cliName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static Preset fromCli(String name) {
        for (Preset p : values()) if (p.cliName().equals(name)) return p;
        throw new IllegalArgumentException("unknown preset '" + name + "': use tiny-v3, tiny-v2lite or bench");
    }

    /** The config.json of this preset, in Hugging Face's field names. */
    public ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        switch (this) {
            case TINY_V3 -> {
                v3Common(c);
                c.put("vocab_size", 512).put("hidden_size", 64).put("intermediate_size", 128)
                        .put("moe_intermediate_size", 40).put("num_hidden_layers", 3).put("first_k_dense_replace", 1)
                        .put("num_attention_heads", 4).put("q_lora_rank", 32).put("kv_lora_rank", 32)
                        .put("qk_nope_head_dim", 16).put("qk_rope_head_dim", 8).put("v_head_dim", 16)
                        .put("n_routed_experts", 16).put("n_shared_experts", 1).put("num_experts_per_tok", 4)
                        .put("n_group", 4).put("topk_group", 2).put("routed_scaling_factor", 2.5)
                        .put("max_position_embeddings", 256);
                yarn(c, 4.0, 64, 1.0);
            }
            case TINY_V2LITE -> {
                c.put("architectures", "DeepseekV2ForCausalLM").put("model_type", "deepseek_v2")
                        .put("vocab_size", 512).put("hidden_size", 64).put("intermediate_size", 128)
                        .put("moe_intermediate_size", 24).put("num_hidden_layers", 3).put("first_k_dense_replace", 1)
                        .put("moe_layer_freq", 1).put("num_attention_heads", 4).putNull("q_lora_rank")
                        .put("kv_lora_rank", 32).put("qk_nope_head_dim", 16).put("qk_rope_head_dim", 8)
                        .put("v_head_dim", 16).put("n_routed_experts", 16).put("n_shared_experts", 2)
                        .put("num_experts_per_tok", 4).put("n_group", 1).put("topk_group", 1)
                        .put("topk_method", "greedy").put("scoring_func", "softmax").put("norm_topk_prob", false)
                        .put("routed_scaling_factor", 1.0).put("max_position_embeddings", 256)
                        .put("rms_norm_eps", 1e-6).put("rope_theta", 10000.0).put("hidden_act", "silu")
                        .put("tie_word_embeddings", false).put("bos_token_id", 0).put("eos_token_id", 1)
                        .put("torch_dtype", "bfloat16").put("attention_bias", false);
                yarn(c, 4.0, 64, 0.707);
            }
            case BENCH -> {
                v3Common(c);
                c.put("vocab_size", 32000).put("hidden_size", 1024).put("intermediate_size", 2816)
                        .put("moe_intermediate_size", 512).put("num_hidden_layers", 12).put("first_k_dense_replace", 1)
                        .put("num_attention_heads", 8).put("q_lora_rank", 384).put("kv_lora_rank", 256)
                        .put("qk_nope_head_dim", 64).put("qk_rope_head_dim", 32).put("v_head_dim", 64)
                        .put("n_routed_experts", 32).put("n_shared_experts", 1).put("num_experts_per_tok", 6)
                        .put("n_group", 4).put("topk_group", 2).put("routed_scaling_factor", 2.5)
                        .put("max_position_embeddings", 16384);
                yarn(c, 4.0, 4096, 1.0);
            }
            default -> throw new IllegalStateException(name());
        }
        return c;
    }

    private static void v3Common(ObjectNode c) {
        c.put("architectures", "DeepseekV3ForCausalLM").put("model_type", "deepseek_v3").put("moe_layer_freq", 1)
                .put("topk_method", "noaux_tc").put("scoring_func", "sigmoid").put("norm_topk_prob", true)
                .put("rms_norm_eps", 1e-6).put("rope_theta", 10000.0).put("hidden_act", "silu")
                .put("tie_word_embeddings", false).put("bos_token_id", 0).put("eos_token_id", 1)
                .put("torch_dtype", "bfloat16").put("attention_bias", false);
    }

    private static void yarn(ObjectNode c, double factor, int original, double mscale) {
        c.putObject("rope_scaling").put("type", "yarn").put("factor", factor)
                .put("original_max_position_embeddings", original).put("beta_fast", 32).put("beta_slow", 1)
                .put("mscale", mscale).put("mscale_all_dim", mscale);
    }
}
