package dev.moemesh.core.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The fields of a Hugging Face {@code config.json} of a DeepSeek-V2/V3-architecture model that change the math.
 *
 * <p>Optional fields take Hugging Face's defaults for that model type; values this engine does not
 * implement are refused with a message naming the field, never silently ignored.
 */
public record ModelConfig(
        ModelType modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int moeIntermediateSize,
        int numLayers,          // the main model's layers (num_hidden_layers)
        int numNextnPredictLayers, // multi-token-prediction layers after them (model.layers.<numLayers + i>)
        int numHeads,
        int qLoraRank,          // 0 = plain q projection
        int kvLoraRank,
        int qkNopeHeadDim,
        int qkRopeHeadDim,
        int vHeadDim,
        int nRoutedExperts,     // 0 = every layer dense
        int nSharedExperts,
        int numExpertsPerTok,
        TopkMethod topkMethod,
        int nGroup,
        int topkGroup,
        ScoringFunction scoringFunc,
        boolean normTopkProb,
        double routedScalingFactor,
        int firstKDenseReplace,
        int moeLayerFreq,
        double rmsNormEps,
        double ropeTheta,
        Yarn yarn,              // null = plain rotary embedding
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        int bosTokenId,
        int eosTokenId,
        int[] fp8BlockSize) {   // null = no fp8 weights

    /** The {@code rope_scaling} block of type yarn. */
    public record Yarn(double factor, int originalMaxPositionEmbeddings, double betaFast, double betaSlow,
                       double mscale, double mscaleAllDim) {}

    public int qkHeadDim() {
        return qkNopeHeadDim + qkRopeHeadDim;
    }

    /**
     * Whether layer {@code layer} of the checkpoint has a MoE feed-forward (the rest are dense SwiGLU MLPs). The
     * multi-token-prediction layers count: their index follows the main model's, and the same rule decides, as in
     * vLLM's and SGLang's DeepSeek MTP (DeepSeek-V3's layer 61 is MoE).
     */
    public boolean isMoeLayer(int layer) {
        return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer < allLayers()
                && layer % moeLayerFreq == 0;
    }

    /** The checkpoint's MoE layers in ascending order, the multi-token-prediction layers' included. */
    public int[] moeLayers() {
        return IntStream.range(0, allLayers()).filter(this::isMoeLayer).toArray();
    }

    /** The checkpoint's decoder layers: the main model's, then the multi-token-prediction layers. */
    public int allLayers() {
        return numLayers + numNextnPredictLayers;
    }

    /** Index of the first multi-token-prediction layer: {@code model.layers.<num_hidden_layers>}. */
    public int mtpLayer() {
        return numLayers;
    }

    /** DeepSeek-V2 checkpoints scale routed weights only when they are not normalised (Hugging Face's V2 gate). */
    public boolean scalesNormalisedWeights() {
        return modelType != ModelType.DEEPSEEK_V2;
    }

    public static ModelConfig load(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        try {
            return parse(new ObjectMapper().readTree(Files.readString(file)), file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("no config.json in " + modelDir + ": is this a Hugging Face model directory?");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    public static ModelConfig parse(JsonNode json, Path file) {
        Fields f = new Fields(json, file);
        ModelType modelType = f.choice("model_type", null, ModelType.class);
        boolean v3 = modelType != ModelType.DEEPSEEK_V2;
        String act = f.string("hidden_act", "silu");
        if (!act.equals("silu")) throw f.refuse("hidden_act", act, "only silu (SwiGLU) is implemented");
        if (f.bool("attention_bias", false)) throw f.refuse("attention_bias", "true", "DeepSeek MLA has no biases");
        int hidden = f.integer("hidden_size", null, 1);
        int nRouted = f.integer("n_routed_experts", 0, 0);
        TopkMethod topkMethod = f.choice("topk_method", v3 ? TopkMethod.NOAUX_TC : TopkMethod.GREEDY, TopkMethod.class);
        ScoringFunction scoring = f.choice("scoring_func", v3 ? ScoringFunction.SIGMOID : ScoringFunction.SOFTMAX,
                ScoringFunction.class);
        int nGroup = f.integer("n_group", 1);
        int topkGroup = f.integer("topk_group", 1);
        int perTok = f.integer("num_experts_per_tok", nRouted > 0 ? null : 0);
        if (nRouted > 0) {
            if (nGroup < 1 || nRouted % nGroup != 0) {
                throw f.refuse("n_group", String.valueOf(nGroup), "must divide n_routed_experts=" + nRouted);
            }
            if (topkGroup < 1 || topkGroup > nGroup) {
                throw f.refuse("topk_group", String.valueOf(topkGroup), "must be between 1 and n_group=" + nGroup);
            }
            if (perTok < 1 || perTok > topkGroup * (nRouted / nGroup)) {
                throw f.refuse("num_experts_per_tok", String.valueOf(perTok),
                        "must be between 1 and the experts of the top-k groups (" + topkGroup * (nRouted / nGroup) + ")");
            }
            if (topkMethod == TopkMethod.NOAUX_TC && nRouted / nGroup < 2 && nGroup > 1) {
                throw f.refuse("n_group", String.valueOf(nGroup), "noaux_tc scores a group by its top-2 experts: each group needs 2");
            }
        }
        int freq = f.integer("moe_layer_freq", 1);
        if (freq < 1) throw f.refuse("moe_layer_freq", String.valueOf(freq), "must be at least 1");
        int vocab = f.integer("vocab_size", null, 1);
        return new ModelConfig(
                modelType, vocab, hidden,
                f.integer("intermediate_size", null, 1),
                f.integer("moe_intermediate_size", nRouted > 0 ? null : 0, nRouted > 0 ? 1 : 0),
                f.integer("num_hidden_layers", null, 1),
                nextn(f),
                f.integer("num_attention_heads", null, 1),
                f.integer("q_lora_rank", 0, 0),
                f.integer("kv_lora_rank", null, 1),
                f.integer("qk_nope_head_dim", null, 1),
                evenRope(f),
                f.integer("v_head_dim", null, 1),
                nRouted,
                f.integer("n_shared_experts", 0, 0),
                perTok,
                topkMethod, nGroup, topkGroup, scoring,
                f.bool("norm_topk_prob", false),
                f.finite("routed_scaling_factor", 1.0),
                f.integer("first_k_dense_replace", 0, 0),
                freq,
                f.positive("rms_norm_eps", 1e-6),
                f.positive("rope_theta", 10000.0),
                yarn(json.get("rope_scaling"), f),
                f.integer("max_position_embeddings", 4096, 1),
                f.bool("tie_word_embeddings", false),
                f.integer("bos_token_id", 0, 0),
                eosId(json.get("eos_token_id"), f),
                fp8BlockSize(json.get("quantization_config"), f));
    }

    private static int nextn(Fields f) {
        int n = f.integer("num_nextn_predict_layers", 0);
        if (n < 0) throw f.refuse("num_nextn_predict_layers", String.valueOf(n), "must be 0 or more");
        return n;
    }

    private static int evenRope(Fields f) {
        int rope = f.integer("qk_rope_head_dim", null, 2);
        if (rope % 2 != 0) throw f.refuse("qk_rope_head_dim", String.valueOf(rope), "rotary pairs need an even size");
        return rope;
    }

    private static int eosId(JsonNode node, Fields f) {
        if (node == null || node.isNull()) return 1;
        JsonNode id = node.isArray() ? node.get(0) : node;
        if (id == null) return 1;
        if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
            throw f.refuse("eos_token_id", node.toString(), "expected a token id (an integer of at least 0)");
        }
        return id.asInt();
    }

    private static Yarn yarn(JsonNode node, Fields f) {
        if (node == null || node.isNull()) return null;
        String type = node.has("type") ? node.get("type").asText() : node.path("rope_type").asText("");
        if (!type.equals("yarn")) throw f.refuse("rope_scaling.type", type, "only yarn is implemented");
        Fields y = new Fields(node, f.file);
        double factor = y.finite("factor", null);
        if (factor < 1) throw f.refuse("rope_scaling.factor", String.valueOf(factor), "must be at least 1");
        return new Yarn(factor,
                y.integer("original_max_position_embeddings", null, 1),
                y.finite("beta_fast", 32.0),
                y.finite("beta_slow", 1.0),
                y.finite("mscale", 1.0),
                y.finite("mscale_all_dim", 0.0));
    }

    private static int[] fp8BlockSize(JsonNode node, Fields f) {
        if (node == null || node.isNull()) return null;
        String method = node.path("quant_method").asText("");
        if (!method.equals("fp8")) throw f.refuse("quantization_config.quant_method", method, "only fp8 is implemented");
        String fmt = node.path("fmt").asText("e4m3");
        if (!fmt.equals("e4m3")) throw f.refuse("quantization_config.fmt", fmt, "only e4m3 is implemented");
        JsonNode block = node.get("weight_block_size");
        if (block == null || !block.isArray() || block.size() != 2) {
            throw f.refuse("quantization_config.weight_block_size", String.valueOf(block), "expected [rows, cols]");
        }
        for (JsonNode side : block) {
            if (!side.isIntegralNumber() || !side.canConvertToInt() || side.asInt() < 1) {
                throw f.refuse("quantization_config.weight_block_size", block.toString(), "expected two positive integers");
            }
        }
        return new int[] {block.get(0).asInt(), block.get(1).asInt()};
    }

    /** Typed reads of a JSON object whose errors name the file and the field. */
    private record Fields(JsonNode json, Path file) {
        IllegalArgumentException refuse(String field, String value, String why) {
            return new IllegalArgumentException(file + ": unsupported " + field + " = " + value + " (" + why + ")");
        }

        private JsonNode get(String field, Object fallback) {
            JsonNode node = json.get(field);
            if ((node == null || node.isNull()) && fallback == null) {
                throw new IllegalArgumentException(file + ": missing required field " + field);
            }
            return node == null || node.isNull() ? null : node;
        }

        String string(String field, String fallback) {
            JsonNode node = get(field, fallback == null ? null : fallback);
            return node == null ? fallback : node.asText();
        }

        /** One of an enum's constants, named in the file as the constant's name in lower case. */
        <E extends Enum<E>> E choice(String field, E fallback, Class<E> type) {
            String value = string(field, fallback == null ? null : fallback.name().toLowerCase(Locale.ROOT));
            for (E e : type.getEnumConstants()) {
                if (e.name().toLowerCase(Locale.ROOT).equals(value)) return e;
            }
            throw refuse(field, value, "supported: " + Arrays.stream(type.getEnumConstants())
                    .map(e -> e.name().toLowerCase(Locale.ROOT)).collect(Collectors.joining(", ")));
        }

        /** An integer of at least {@code min}: sizes and counts the engine allocates from. */
        int integer(String field, Integer fallback, int min) {
            JsonNode node = get(field, fallback);
            if (node == null) return fallback;
            if (!node.canConvertToInt() || !node.isIntegralNumber()) throw refuse(field, node.toString(), "expected an integer");
            if (node.asInt() < min) throw refuse(field, node.toString(), "must be at least " + min);
            return node.asInt();
        }

        int integer(String field, Integer fallback) {
            return integer(field, fallback, Integer.MIN_VALUE);
        }

        /** A finite number (JSON allows 1e999, which reads as infinity). */
        double finite(String field, Double fallback) {
            JsonNode node = get(field, fallback);
            if (node == null) return fallback;
            if (!node.isNumber() || !Double.isFinite(node.asDouble())) {
                throw refuse(field, node.toString(), "expected a finite number");
            }
            return node.asDouble();
        }

        /** A finite number above zero: an epsilon or a base that divides or takes a logarithm. */
        double positive(String field, Double fallback) {
            double value = finite(field, fallback);
            if (!(value > 0)) throw refuse(field, String.valueOf(value), "must be above 0");
            return value;
        }

        boolean bool(String field, boolean fallback) {
            JsonNode node = json.get(field);
            if (node == null || node.isNull()) return fallback;
            if (!node.isBoolean()) throw refuse(field, node.toString(), "expected true or false");
            return node.asBoolean();
        }
    }
}
