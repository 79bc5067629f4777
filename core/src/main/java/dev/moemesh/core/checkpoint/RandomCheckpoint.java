package dev.moemesh.core.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.config.TopkMethod;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;
import dev.moemesh.core.safetensors.CheckpointWriter;
import dev.moemesh.core.safetensors.CheckpointWriter.TensorSpec;
import dev.moemesh.core.safetensors.DType;
import dev.moemesh.core.tokenizer.TokenizerWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes a checkpoint with random weights in exactly the Hugging Face layout of DeepSeek's releases: sharded
 * safetensors with their index, {@code config.json}, {@code tokenizer.json} and {@code tokenizer_config.json}.
 * The weights depend only on the seed and each tensor's name. With {@code fp8}, linear weights are stored as
 * FP8 E4M3 with 128x128 {@code weight_scale_inv} blocks, as in the V3 release.
 */
public final class RandomCheckpoint {
    private static final int TOKENIZER_VOCAB_MAX = 1024;
    private static final int FP8_BLOCK = 128;
    private static final String UE8M0 = "ue8m0";

    private RandomCheckpoint() {}

    public static void write(Path dir, Preset preset, long seed, boolean fp8) {
        write(dir, preset, seed, fp8, 0);
    }

    /**
     * As above, with {@code mtpLayers} multi-token-prediction layers after the main model's, as DeepSeek-V3's release
     * has one ({@code num_nextn_predict_layers}).
     */
    public static void write(Path dir, Preset preset, long seed, boolean fp8, int mtpLayers) {
        write(dir, withMtpLayers(preset.config(), mtpLayers), seed, fp8, shardBytes(preset), null);
    }

    /**
     * An FP8 checkpoint as above whose block scales are powers of two ({@code scale_fmt: ue8m0}, as DeepSeek-V3.1's
     * release): the same random scales rounded up to a power of two, as DeepSeek's UE8M0 quantisation rounds.
     */
    public static void writeUe8m0(Path dir, Preset preset, long seed, int mtpLayers) {
        ObjectNode config = withMtpLayers(preset.config(), mtpLayers);
        fp8Config(config).put("scale_fmt", UE8M0);
        write(dir, config, seed, true, shardBytes(preset), null);
    }

    private static ObjectNode fp8Config(ObjectNode config) {
        ObjectNode q = config.putObject("quantization_config").put("quant_method", "fp8").put("fmt", "e4m3")
                .put("activation_scheme", "dynamic");
        q.putArray("weight_block_size").add(FP8_BLOCK).add(FP8_BLOCK);
        return q;
    }

    /** Writes a checkpoint for any DeepSeek config; {@code shardBytes} bounds each safetensors file. */
    public static void write(Path dir, ObjectNode configJson, long seed, boolean fp8, long shardBytes) {
        write(dir, configJson, seed, fp8, shardBytes, null);
    }

    static ObjectNode withMtpLayers(ObjectNode config, int mtpLayers) {
        if (mtpLayers < 0) throw new IllegalArgumentException("MTP layers must be 0 or more, got " + mtpLayers);
        return mtpLayers == 0 ? config : config.put("num_nextn_predict_layers", mtpLayers);
    }

    /** Big enough for few files, small enough that even the tiny presets are sharded, as real releases are. */
    static long shardBytes(Preset preset) {
        return preset == Preset.BENCH ? 512L << 20 : 256L << 10;
    }

    /** Weights taken from elsewhere than the random fill: returns whether it filled {@code out}. */
    @FunctionalInterface
    interface Fill {
        boolean fill(TensorSpec spec, ByteBuffer out);
    }

    /** As above; tensors that {@code chosen} fills (when not null) take its values instead of random ones. */
    static void write(Path dir, ObjectNode configJson, long seed, boolean fp8, long shardBytes, Fill chosen) {
        try {
            Files.createDirectories(dir);
            if (fp8 && !configJson.has("quantization_config")) fp8Config(configJson);
            boolean ue8m0 = fp8 && UE8M0.equals(configJson.path("quantization_config").path("scale_fmt").asText());
            Files.writeString(dir.resolve("config.json"),
                    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(configJson));
            ModelConfig c = ModelConfig.parse(configJson, dir.resolve("config.json"));
            List<TensorSpec> specs = new ArrayList<>();
            tensors(c, fp8, specs);
            CheckpointWriter.write(dir, specs, shardBytes, (spec, out) -> {
                if (chosen == null || !chosen.fill(spec, out)) fill(spec, out, seed, ue8m0);
            });
            TokenizerWriter.write(dir, Math.min(c.vocabSize(), TOKENIZER_VOCAB_MAX));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void tensors(ModelConfig c, boolean fp8, List<TensorSpec> specs) {
        int h = c.hiddenSize();
        matrix(specs, "model.embed_tokens.weight", c.vocabSize(), h, false);
        for (int i = 0; i < c.numLayers(); i++) layer(c, i, fp8, specs);
        vector(specs, "model.norm.weight", h);
        matrix(specs, "lm_head.weight", c.vocabSize(), h, false);
        // DeepSeek-V3's release: the MTP layers after the others, each with copies of the shared embedding and head
        for (int i = c.numLayers(); i < c.allLayers(); i++) {
            String p = "model.layers." + i + ".";
            matrix(specs, p + "embed_tokens.weight", c.vocabSize(), h, false);
            vector(specs, p + "enorm.weight", h);
            vector(specs, p + "hnorm.weight", h);
            matrix(specs, p + "eh_proj.weight", h, 2 * h, false);
            layer(c, i, fp8, specs);
            vector(specs, p + "shared_head.norm.weight", h);
            matrix(specs, p + "shared_head.head.weight", c.vocabSize(), h, false);
        }
    }

    /** The decoder block {@code model.layers.<i>}: norms, MLA, and a dense MLP or a MoE. */
    private static void layer(ModelConfig c, int i, boolean fp8, List<TensorSpec> specs) {
        int h = c.hiddenSize();
        String p = "model.layers." + i + ".";
        vector(specs, p + "input_layernorm.weight", h);
        String a = p + "self_attn.";
        int qOut = c.numHeads() * c.qkHeadDim();
        if (c.qLoraRank() == 0) {
            matrix(specs, a + "q_proj.weight", qOut, h, fp8);
        } else {
            matrix(specs, a + "q_a_proj.weight", c.qLoraRank(), h, fp8);
            vector(specs, a + "q_a_layernorm.weight", c.qLoraRank());
            matrix(specs, a + "q_b_proj.weight", qOut, c.qLoraRank(), fp8);
        }
        matrix(specs, a + "kv_a_proj_with_mqa.weight", c.kvLoraRank() + c.qkRopeHeadDim(), h, fp8);
        vector(specs, a + "kv_a_layernorm.weight", c.kvLoraRank());
        matrix(specs, a + "kv_b_proj.weight", c.numHeads() * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank(), fp8);
        matrix(specs, a + "o_proj.weight", h, c.numHeads() * c.vHeadDim(), fp8);
        vector(specs, p + "post_attention_layernorm.weight", h);
        String m = p + "mlp.";
        if (!c.isMoeLayer(i)) {
            mlp(specs, m, h, c.intermediateSize(), fp8);
            return;
        }
        matrix(specs, m + "gate.weight", c.nRoutedExperts(), h, false);
        if (c.topkMethod() == TopkMethod.NOAUX_TC) {
            specs.add(new TensorSpec(m + "gate.e_score_correction_bias", DType.F32, new long[] {c.nRoutedExperts()}));
        }
        for (int e = 0; e < c.nRoutedExperts(); e++) mlp(specs, m + "experts." + e + ".", h, c.moeIntermediateSize(), fp8);
        if (c.nSharedExperts() > 0) mlp(specs, m + "shared_experts.", h, c.moeIntermediateSize() * c.nSharedExperts(), fp8);
    }

    private static void mlp(List<TensorSpec> specs, String prefix, int hidden, int inter, boolean fp8) {
        matrix(specs, prefix + "gate_proj.weight", inter, hidden, fp8);
        matrix(specs, prefix + "up_proj.weight", inter, hidden, fp8);
        matrix(specs, prefix + "down_proj.weight", hidden, inter, fp8);
    }

    private static void matrix(List<TensorSpec> specs, String name, int rows, int cols, boolean fp8) {
        if (!fp8) {
            specs.add(new TensorSpec(name, DType.BF16, new long[] {rows, cols}));
            return;
        }
        specs.add(new TensorSpec(name, DType.F8_E4M3, new long[] {rows, cols}));
        specs.add(new TensorSpec(name + "_scale_inv", DType.F32,
                new long[] {(rows + FP8_BLOCK - 1) / FP8_BLOCK, (cols + FP8_BLOCK - 1) / FP8_BLOCK}));
    }

    private static void vector(List<TensorSpec> specs, String name, int length) {
        specs.add(new TensorSpec(name, DType.BF16, new long[] {length}));
    }

    /**
     * Random values for one tensor, seeded by the checkpoint seed and the tensor's name; an MTP layer's copies of the
     * embedding and the output head are seeded by the originals' names, so they are equal, as the report shares them.
     */
    private static void fill(TensorSpec spec, ByteBuffer out, long seed, boolean ue8m0) {
        String name = spec.name();
        if (name.endsWith(".embed_tokens.weight")) name = "model.embed_tokens.weight";
        if (name.endsWith(".shared_head.head.weight")) name = "lm_head.weight";
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        long count = spec.byteLength() / spec.dtype().bytes();
        if (name.endsWith("_scale_inv")) {
            for (long i = 0; i < count; i++) {
                float scale = (float) (0.02 + 0.02 * random.nextDouble());
                out.putFloat(ue8m0 ? Fp8E4m3.ue8m0Scale(scale) : scale);
            }
        } else if (name.endsWith("e_score_correction_bias")) {
            for (long i = 0; i < count; i++) out.putFloat((float) (0.1 * (random.nextDouble() * 2 - 1)));
        } else if (spec.dtype() == DType.F8_E4M3) {
            // sign, exponent 5..8 (0.25 .. 3.75 before scaling), any mantissa: never NaN
            for (long i = 0; i < count; i++) {
                int sign = random.nextBoolean() ? 0x80 : 0;
                out.put((byte) (sign | (5 + random.nextInt(4)) << 3 | random.nextInt(8)));
            }
        } else if (spec.shape().length == 1) {
            for (long i = 0; i < count; i++) out.putShort(Bf16.fromFloat((float) (1 + 0.1 * (random.nextDouble() * 2 - 1))));
        } else {
            long cols = spec.shape()[1];
            double std = name.equals("model.embed_tokens.weight") ? 1.0 : 1.0 / Math.sqrt(cols);
            double half = Math.sqrt(3) * std;
            for (long i = 0; i < count; i++) out.putShort(Bf16.fromFloat((float) (half * (random.nextDouble() * 2 - 1))));
        }
    }
}
