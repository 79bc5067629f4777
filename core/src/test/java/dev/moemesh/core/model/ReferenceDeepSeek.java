package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.config.ScoringFunction;
import dev.moemesh.core.config.TopkMethod;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A deliberately plain DeepSeek-V2/V3 forward pass in double precision, written from DeepSeek-V3's reference
 * {@code inference/model.py} ("naive" attention: keys and values decompressed, the whole sequence recomputed for
 * every token, no cache, no batching, no vectors). The engine is checked against it.
 *
 * <p>Like the engine (and the mesh wire format), routed experts see their input rounded to bf16 and return bf16.
 * With {@code bf16Cache}, the normalised latent and the rotated rope key are rounded to bf16 where the reference's
 * absorbed path stores them in its bf16 {@code kv_cache} and {@code pe_cache}. FP8 weights are dequantised to bf16
 * ({@code weight_dequant}, the reference's bf16 path) or, with {@code fp8InFp32}, to fp32 (the engine's default).
 */
final class ReferenceDeepSeek {
    private final ModelConfig c;
    private final SafetensorsCheckpoint ckpt;
    private final boolean yarn;
    private final boolean bf16Cache;
    private final boolean fp8InFp32;

    /** @param yarn whether the served context engages YaRN (the reference's {@code max_seq_len > original_seq_len}) */
    ReferenceDeepSeek(Path dir, boolean yarn, boolean bf16Cache, boolean fp8InFp32) {
        this.c = ModelConfig.load(dir);
        int[] block = c.fp8BlockSize();
        this.ckpt = block == null ? SafetensorsCheckpoint.open(dir) : SafetensorsCheckpoint.open(dir, block[0], block[1]);
        this.yarn = yarn;
        this.bf16Cache = bf16Cache;
        this.fp8InFp32 = fp8InFp32;
    }

    /** Logits of the last position of {@code tokens}. */
    double[] logits(int[] tokens) {
        double[][] h = finalHidden(tokens);
        return linear(h[h.length - 1], w("lm_head.weight"), c.vocabSize());
    }

    /**
     * The multi-token-prediction module's logits at its last position: its guess at the token after {@code tokens}'
     * last but one step further, i.e. at position {@code tokens.length}. DeepSeek-V3's MTP (report section 2.2) as
     * vLLM's and SGLang's {@code deepseek_mtp} read the released weights: for i = 0 .. s-2,
     * {@code h'_i = eh_proj [enorm(emb(t_{i+1})) ; hnorm(h_i)]} with {@code h_i} the main model's state after
     * {@code model.norm}, then the decoder layer {@code num_hidden_layers} over those s-1 positions, then
     * {@code shared_head.norm} and {@code shared_head.head}. The module's own copy of the embedding is used.
     */
    double[] mtpLogits(int[] tokens) {
        return mtpLogits(tokens, finalHidden(tokens));
    }

    /** As above, from the main model's final-normed states {@code main} (positions 0 .. tokens.length - 2 read). */
    double[] mtpLogits(int[] tokens, double[][] main) {
        int h = c.hiddenSize();
        int layer = c.numLayers();
        String p = "model.layers." + layer + ".";
        int s = tokens.length - 1;
        double[] embed = w(p + "embed_tokens.weight");
        double[][] e = new double[s][];
        for (int i = 0; i < s; i++) e[i] = Arrays.copyOfRange(embed, tokens[i + 1] * h, (tokens[i + 1] + 1) * h);
        e = norm(e, w(p + "enorm.weight"));
        double[][] hn = norm(Arrays.copyOf(main, s), w(p + "hnorm.weight"));
        double[] ehProj = w(p + "eh_proj.weight");
        double[][] x = new double[s][];
        for (int i = 0; i < s; i++) {
            double[] cat = Arrays.copyOf(e[i], 2 * h);
            System.arraycopy(hn[i], 0, cat, h, h);
            x[i] = linear(cat, ehProj, h);
        }
        decoderLayer(x, layer);
        double[] last = norm(new double[][] {x[s - 1]}, w(p + "shared_head.norm.weight"))[0];
        return linear(last, w(p + "shared_head.head.weight"), c.vocabSize());
    }

    /** The main model's state after {@code model.norm} at every position of {@code tokens}. */
    private double[][] finalHidden(int[] tokens) {
        int s = tokens.length;
        int h = c.hiddenSize();
        double[][] x = new double[s][];
        double[] embed = w("model.embed_tokens.weight");
        for (int t = 0; t < s; t++) x[t] = Arrays.copyOfRange(embed, tokens[t] * h, (tokens[t] + 1) * h);
        for (int layer = 0; layer < c.numLayers(); layer++) decoderLayer(x, layer);
        return norm(x, w("model.norm.weight"));
    }

    /** {@code model.layers.<layer>} on the whole sequence {@code x} (positions 0 ..), in place. */
    private void decoderLayer(double[][] x, int layer) {
        int s = x.length;
        int h = c.hiddenSize();
        String p = "model.layers." + layer + ".";
        double[][] a = attention(norm(x, w(p + "input_layernorm.weight")), p + "self_attn.");
        for (int t = 0; t < s; t++) for (int i = 0; i < h; i++) x[t][i] += a[t][i];
        double[][] n = norm(x, w(p + "post_attention_layernorm.weight"));
        for (int t = 0; t < s; t++) {
            double[] f = c.isMoeLayer(layer) ? moe(n[t], p + "mlp.") : mlp(n[t], p + "mlp.", false);
            for (int i = 0; i < h; i++) x[t][i] += f[i];
        }
    }

    private double[] w(String name) {
        float[] f;
        if (ckpt.isBlockScaledFp8(name) && fp8InFp32) {
            f = fp32Dequant(name);
        } else if (ckpt.info(name).dtype() == dev.moemesh.core.safetensors.DType.F8_E4M3) {
            int[] pairs = ckpt.readBf16Pairs(name);
            f = new float[pairs.length * 2];
            for (int i = 0; i < pairs.length; i++) {
                f[2 * i] = Bf16.toFloat((short) pairs[i]);
                f[2 * i + 1] = Bf16.toFloat((short) (pairs[i] >>> 16));
            }
        } else {
            f = ckpt.readFloats(name);
        }
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Each E4M3 value times its block's scale, rounded once to fp32. */
    private float[] fp32Dequant(String name) {
        byte[] codes = ckpt.readFp8Codes(name);
        float[] scales = ckpt.readFp8Scales(name);
        long[] shape = ckpt.info(name).shape();
        int cols = (int) shape[1];
        int scaleCols = (cols + ckpt.fp8BlockCols() - 1) / ckpt.fp8BlockCols();
        float[] f = new float[codes.length];
        for (int i = 0; i < f.length; i++) {
            int row = i / cols, col = i % cols;
            f[i] = Fp8E4m3.toFloat(codes[i]) * scales[(row / ckpt.fp8BlockRows()) * scaleCols + col / ckpt.fp8BlockCols()];
        }
        return f;
    }

    private double[] cached(double[] v) {
        if (!bf16Cache) return v;
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = Bf16.round((float) v[i]);
        return r;
    }

    private double[][] norm(double[][] x, double[] weight) {
        double[][] out = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) ss += v * v;
            double r = 1 / Math.sqrt(ss / x[t].length + c.rmsNormEps());
            out[t] = new double[x[t].length];
            for (int i = 0; i < x[t].length; i++) out[t][i] = x[t][i] * r * weight[i];
        }
        return out;
    }

    private static double[] linear(double[] x, double[] weight, int out) {
        int in = x.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double sum = 0;
            for (int i = 0; i < in; i++) sum += weight[o * in + i] * x[i];
            y[o] = sum;
        }
        return y;
    }

    private double[][] attention(double[][] x, String p) {
        int s = x.length;
        int heads = c.numHeads();
        int nope = c.qkNopeHeadDim(), rope = c.qkRopeHeadDim(), v = c.vHeadDim(), kvLora = c.kvLoraRank();
        int qk = nope + rope;
        double[][] q = new double[s][], latent = new double[s][], kPe = new double[s][];
        for (int t = 0; t < s; t++) {
            if (c.qLoraRank() == 0) {
                q[t] = linear(x[t], w(p + "q_proj.weight"), heads * qk);
            } else {
                double[] qa = linear(x[t], w(p + "q_a_proj.weight"), c.qLoraRank());
                qa = norm(new double[][] {qa}, w(p + "q_a_layernorm.weight"))[0];
                q[t] = linear(qa, w(p + "q_b_proj.weight"), heads * qk);
            }
            double[] kv = linear(x[t], w(p + "kv_a_proj_with_mqa.weight"), kvLora + rope);
            latent[t] = cached(norm(new double[][] {Arrays.copyOf(kv, kvLora)}, w(p + "kv_a_layernorm.weight"))[0]);
            kPe[t] = cached(rotate(Arrays.copyOfRange(kv, kvLora, kvLora + rope), t));
            for (int hd = 0; hd < heads; hd++) {
                double[] pe = rotate(Arrays.copyOfRange(q[t], hd * qk + nope, (hd + 1) * qk), t);
                System.arraycopy(pe, 0, q[t], hd * qk + nope, rope);
            }
        }
        double[] wkvB = w(p + "kv_b_proj.weight");
        double[][] kv = new double[s][];
        for (int t = 0; t < s; t++) kv[t] = linear(latent[t], wkvB, heads * (nope + v));
        double scale = softmaxScale();
        double[][] out = new double[s][heads * v];
        for (int t = 0; t < s; t++) {
            for (int hd = 0; hd < heads; hd++) {
                double[] scores = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u <= t; u++) {
                    double dot = 0;
                    for (int i = 0; i < nope; i++) dot += q[t][hd * qk + i] * kv[u][hd * (nope + v) + i];
                    for (int i = 0; i < rope; i++) dot += q[t][hd * qk + nope + i] * kPe[u][i];
                    scores[u] = dot * scale;
                    max = Math.max(max, scores[u]);
                }
                double sum = 0;
                for (int u = 0; u <= t; u++) sum += scores[u] = Math.exp(scores[u] - max);
                for (int u = 0; u <= t; u++) {
                    for (int i = 0; i < v; i++) out[t][hd * v + i] += scores[u] / sum * kv[u][hd * (nope + v) + nope + i];
                }
            }
        }
        double[][] o = new double[s][];
        for (int t = 0; t < s; t++) o[t] = linear(out[t], w(p + "o_proj.weight"), c.hiddenSize());
        return o;
    }

    private boolean yarn() {
        return yarn;
    }

    private double softmaxScale() {
        double scale = 1 / Math.sqrt(c.qkHeadDim());
        if (!yarn()) return scale;
        double m = 0.1 * c.yarn().mscaleAllDim() * Math.log(c.yarn().factor()) + 1;
        return scale * m * m;
    }

    /** precompute_freqs_cis + apply_rotary_emb: interleaved pairs as complex numbers. */
    private double[] rotate(double[] x, int pos) {
        int dim = c.qkRopeHeadDim();
        double[] out = new double[dim];
        for (int i = 0; i < dim / 2; i++) {
            double freq = 1 / Math.pow(c.ropeTheta(), (double) (2 * i) / dim);
            if (yarn()) {
                ModelConfig.Yarn y = c.yarn();
                double low = Math.max(Math.floor(corr(y.betaFast(), dim, y.originalMaxPositionEmbeddings())), 0);
                double high = Math.min(Math.ceil(corr(y.betaSlow(), dim, y.originalMaxPositionEmbeddings())), dim - 1);
                if (low == high) high += 0.001;
                double smooth = 1 - Math.min(Math.max((i - low) / (high - low), 0), 1);
                freq = freq / y.factor() * (1 - smooth) + freq * smooth;
            }
            double angle = pos * freq;
            double re = x[2 * i], im = x[2 * i + 1];
            out[2 * i] = re * Math.cos(angle) - im * Math.sin(angle);
            out[2 * i + 1] = re * Math.sin(angle) + im * Math.cos(angle);
        }
        return out;
    }

    private double corr(double rotations, int dim, int original) {
        return dim * Math.log(original / (rotations * 2 * Math.PI)) / (2 * Math.log(c.ropeTheta()));
    }

    private double[] mlp(double[] x, String p, boolean bf16Wire) {
        int inter = (int) ckpt.info(p + "gate_proj.weight").shape()[0];
        double[] in = x;
        if (bf16Wire) {
            in = new double[x.length];
            for (int i = 0; i < x.length; i++) in[i] = Bf16.round((float) x[i]);
        }
        double[] g = linear(in, w(p + "gate_proj.weight"), inter);
        double[] u = linear(in, w(p + "up_proj.weight"), inter);
        for (int i = 0; i < inter; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
        double[] out = linear(g, w(p + "down_proj.weight"), c.hiddenSize());
        if (bf16Wire) for (int i = 0; i < out.length; i++) out[i] = Bf16.round((float) out[i]);
        return out;
    }

    /** model.py's Gate and MoE: route, run the chosen experts, add them in ascending id, add the shared experts. */
    private double[] moe(double[] x, String p) {
        int n = c.nRoutedExperts();
        double[] logits = linear(x, w(p + "gate.weight"), n);
        double[] scores = new double[n];
        if (c.scoringFunc() == ScoringFunction.SIGMOID) {
            for (int e = 0; e < n; e++) scores[e] = 1 / (1 + Math.exp(-logits[e]));
        } else {
            double max = Arrays.stream(logits).max().orElseThrow(), sum = 0;
            for (int e = 0; e < n; e++) sum += scores[e] = Math.exp(logits[e] - max);
            for (int e = 0; e < n; e++) scores[e] /= sum;
        }
        double[] bias = c.topkMethod() == TopkMethod.NOAUX_TC ? w(p + "gate.e_score_correction_bias") : null;
        double[] choice = new double[n];
        for (int e = 0; e < n; e++) choice[e] = scores[e] + (bias == null ? 0 : bias[e]);
        if (c.topkMethod() != TopkMethod.GREEDY && c.nGroup() > 1) {
            int size = n / c.nGroup();
            double[] groupScore = new double[c.nGroup()];
            for (int g = 0; g < c.nGroup(); g++) {
                double[] members = Arrays.copyOfRange(choice, g * size, (g + 1) * size);
                Arrays.sort(members);
                groupScore[g] = bias == null ? members[size - 1] : members[size - 1] + members[size - 2];
            }
            List<Integer> kept = topIndices(groupScore, c.topkGroup());
            for (int g = 0; g < c.nGroup(); g++) {
                if (!kept.contains(g)) Arrays.fill(choice, g * size, (g + 1) * size, Double.NEGATIVE_INFINITY);
            }
        }
        List<Integer> chosen = topIndices(choice, c.numExpertsPerTok());
        double[] weights = new double[chosen.size()];
        double sum = 0;
        for (int j = 0; j < chosen.size(); j++) sum += weights[j] = scores[chosen.get(j)];
        boolean normalise = chosen.size() > 1 && c.normTopkProb();
        for (int j = 0; j < weights.length; j++) {
            if (normalise) weights[j] /= sum;
            if (!normalise || c.scalesNormalisedWeights()) weights[j] *= c.routedScalingFactor();
        }
        double[] y = new double[x.length];
        for (int e = 0; e < n; e++) {
            int j = chosen.indexOf(e);
            if (j < 0) continue;
            double[] out = mlp(x, p + "experts." + e + ".", true);
            for (int i = 0; i < y.length; i++) y[i] += weights[j] * out[i];
        }
        if (c.nSharedExperts() > 0) {
            double[] z = mlp(x, p + "shared_experts.", false);
            for (int i = 0; i < y.length; i++) y[i] += z[i];
        }
        return y;
    }

    /** Indices of the k largest values, largest first; ties to the lower index. */
    private static List<Integer> topIndices(double[] values, int k) {
        List<Integer> out = new ArrayList<>();
        boolean[] taken = new boolean[values.length];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < values.length; i++) {
                if (!taken[i] && (best < 0 || values[i] > values[best])) best = i;
            }
            taken[best] = true;
            out.add(best);
        }
        return out;
    }
}
