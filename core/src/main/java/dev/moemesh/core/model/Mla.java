package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.weights.WeightReader;

import java.util.Arrays;

/**
 * Multi-head latent attention (DeepSeek-V2/V3), in the absorbed form used for serving.
 *
 * <p>Keys and values are never materialised: the cache holds the normalised latent {@code c_kv} and the
 * rotated rope key; the query's no-rope part is projected into latent space with {@code W_UK} of each head,
 * scores are taken against the latents, and the attention-weighted latent is projected out with {@code W_UV}.
 */
public final class Mla {
    private final ModelConfig config;
    private final Matrix wq;       // (heads * qk_head_dim, hidden), when q_lora_rank = 0
    private final Matrix wqA;      // (q_lora_rank, hidden)
    private final RmsNorm qNorm;   // (q_lora_rank)
    private final Matrix wqB;      // (heads * qk_head_dim, q_lora_rank)
    private final Matrix wkvA;     // (kv_lora_rank + qk_rope_head_dim, hidden)
    private final RmsNorm kvNorm;  // (kv_lora_rank)
    private final Matrix wkvB;     // (heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank)
    private final Matrix[] wUkT;   // per head (kv_lora_rank, qk_nope_head_dim): W_UK transposed, for absorbing q
    private final Matrix[] wUv;    // per head (v_head_dim, kv_lora_rank)
    private final Matrix wo;       // (hidden, heads * v_head_dim)

    private Mla(ModelConfig config, Matrix wq, Matrix wqA, RmsNorm qNorm, Matrix wqB, Matrix wkvA, RmsNorm kvNorm,
                Matrix wkvB, Matrix wo) {
        this.config = config;
        this.wq = wq;
        this.wqA = wqA;
        this.qNorm = qNorm;
        this.wqB = wqB;
        this.wkvA = wkvA;
        this.kvNorm = kvNorm;
        this.wkvB = wkvB;
        this.wo = wo;
        int heads = config.numHeads();
        int nope = config.qkNopeHeadDim();
        int v = config.vHeadDim();
        wUkT = new Matrix[heads];
        wUv = new Matrix[heads];
        for (int h = 0; h < heads; h++) {
            wUkT[h] = wkvB.sliceRows(h * (nope + v), nope).transpose();
            wUv[h] = wkvB.sliceRows(h * (nope + v) + nope, v);
        }
    }

    public static Mla load(WeightReader r, String prefix, ModelConfig c) {
        int hidden = c.hiddenSize();
        int qOut = c.numHeads() * c.qkHeadDim();
        float eps = (float) c.rmsNormEps();
        Matrix wq = null, wqA = null, wqB = null;
        RmsNorm qNorm = null;
        if (c.qLoraRank() == 0) {
            wq = r.matrix(prefix + "q_proj.weight", qOut, hidden);
        } else {
            wqA = r.matrix(prefix + "q_a_proj.weight", c.qLoraRank(), hidden);
            qNorm = new RmsNorm(r.vector(prefix + "q_a_layernorm.weight", c.qLoraRank()), eps);
            wqB = r.matrix(prefix + "q_b_proj.weight", qOut, c.qLoraRank());
        }
        return new Mla(c, wq, wqA, qNorm, wqB,
                r.matrix(prefix + "kv_a_proj_with_mqa.weight", c.kvLoraRank() + c.qkRopeHeadDim(), hidden),
                new RmsNorm(r.vector(prefix + "kv_a_layernorm.weight", c.kvLoraRank()), eps),
                r.matrix(prefix + "kv_b_proj.weight", c.numHeads() * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank()),
                r.matrix(prefix + "o_proj.weight", hidden, c.numHeads() * c.vHeadDim()));
    }

    /** {@code kv_b_proj}: the up-projection from latent to per-head keys and values (the naive form's weights). */
    public Matrix kvUpProjection() {
        return wkvB;
    }

    /** {@code o_proj}. */
    public Matrix outputProjection() {
        return wo;
    }

    /**
     * Attention for the rows of one step: appends each row's latent and rope key to its sequence's cache at the
     * row's position, then lets each row attend to positions {@code 0..pos} of its own sequence.
     *
     * @param x   normalised hidden states, (rows, hidden)
     * @param out attention output after {@code o_proj}, (rows, hidden)
     */
    public void forward(StepRows step, float[] x, float[] out, LatentKvCache cache, int layer, Workspace ws) {
        int rows = step.count();
        int heads = config.numHeads();
        int qkHead = config.qkHeadDim();
        int nope = config.qkNopeHeadDim();
        int ropeDim = config.qkRopeHeadDim();
        int kvLora = config.kvLoraRank();
        int width = kvLora + ropeDim;

        float[] q = ws.buffer(Workspace.Slot.Q, rows * heads * qkHead);
        if (wq != null) {
            wq.multiply(x, rows, q);
        } else {
            float[] qLatent = ws.buffer(Workspace.Slot.Q_LATENT, rows * config.qLoraRank());
            wqA.multiply(x, rows, qLatent);
            qNorm.apply(qLatent, rows, qLatent);
            wqB.multiply(qLatent, rows, q);
        }
        float[] kv = ws.buffer(Workspace.Slot.KV, rows * width);
        wkvA.multiply(x, rows, kv);
        kvNorm.apply(kv, rows, width, kv, width);

        for (int r = 0; r < rows; r++) {
            RotaryEmbedding.rotate(kv, r * width + kvLora, step.cos(), step.sin(), r * (ropeDim / 2), ropeDim / 2);
            cache.write(layer, step.sequence(r), step.position(r), kv, r * width);
            for (int h = 0; h < heads; h++) {
                RotaryEmbedding.rotate(q, (r * heads + h) * qkHead + nope, step.cos(), step.sin(),
                        r * (ropeDim / 2), ropeDim / 2);
            }
        }

        int v = config.vHeadDim();
        // absorb W_UK into the queries head by head, all rows at once: (heads, rows, kv_lora)
        float[] qNope = ws.buffer(Workspace.Slot.Q_HEAD, rows * nope);
        float[] qLatent = ws.buffer(Workspace.Slot.Q_ABSORBED, heads * rows * kvLora);
        float[] headLatent = ws.buffer(Workspace.Slot.Q_ABSORBED_HEAD, rows * kvLora);
        for (int h = 0; h < heads; h++) {
            for (int r = 0; r < rows; r++) System.arraycopy(q, (r * heads + h) * qkHead, qNope, r * nope, nope);
            wUkT[h].multiply(qNope, rows, headLatent);
            System.arraycopy(headLatent, 0, qLatent, h * rows * kvLora, rows * kvLora);
        }
        float[] outLatent = ws.buffer(Workspace.Slot.ATTN_LATENT, heads * rows * kvLora);
        float scale = step.softmaxScale();
        // heads four at a time where they come in fours: they read the same latents, once for the four
        int group = heads % 4 == 0 ? 4 : 1;
        Parallel.forRange(rows * (heads / group), 1, (from, to) -> {
            AttentionScratch scratch = AttentionScratch.get(group * (step.maxPosition() + 1));
            for (int item = from; item < to; item++) {
                int h = item / rows * group, i = item % rows;
                // early and late rows alternate, so a range of items holds its share of a prompt's causal work
                int r = i % 2 == 0 ? i / 2 : rows - 1 - i / 2;
                if (group == 4) {
                    attendFour(r, h, step, qLatent, q, layer, cache, scale, scratch, outLatent);
                } else {
                    attendOne(r, step, qLatent, (h * rows + r) * kvLora, q, (r * heads + h) * qkHead + nope, layer,
                            cache, scale, scratch.scores, outLatent);
                }
            }
        });
        // project the attended latents out with W_UV, head by head: (rows, heads * v)
        float[] attn = ws.buffer(Workspace.Slot.ATTN, rows * heads * v);
        float[] headOut = ws.buffer(Workspace.Slot.ATTN_HEAD, rows * v);
        for (int h = 0; h < heads; h++) {
            System.arraycopy(outLatent, h * rows * kvLora, headLatent, 0, rows * kvLora);
            wUv[h].multiply(headLatent, rows, headOut);
            for (int r = 0; r < rows; r++) System.arraycopy(headOut, r * v, attn, (r * heads + h) * v, v);
        }
        wo.multiply(attn, rows, out);
    }

    /**
     * One (row, head): scores of the absorbed query against the row's sequence up to its position, softmax, and
     * the weighted sum of latents into {@code outLatent[latent0 ..]}.
     */
    private void attendOne(int r, StepRows step, float[] qLatent, int latent0, float[] q, int pe0, int layer,
                           LatentKvCache cache, float scale, float[] scores, float[] outLatent) {
        int kvLora = config.kvLoraRank();
        LatentKvCache.Sequence seq = step.sequence(r);
        int length = step.position(r) + 1;
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t < length; t++) {
            float score = cache.score(layer, cache.offset(seq, t), qLatent, latent0, q, pe0) * scale;
            scores[t] = score;
            max = Math.max(max, score);
        }
        float sum = 0f;
        for (int t = 0; t < length; t++) {
            float p = (float) Math.exp(scores[t] - max);
            scores[t] = p;
            sum += p;
        }
        Arrays.fill(outLatent, latent0, latent0 + kvLora, 0f);
        for (int t = 0; t < length; t++) {
            cache.addLatent(layer, cache.offset(seq, t), scores[t] / sum, outLatent, latent0);
        }
    }

    /**
     * Heads {@code h0 .. h0+3} of row {@code r}, each exactly as {@link #attendOne} computes it: the same scores,
     * softmax and weighted sum in the same order, bit for bit; the four read each cached latent once.
     */
    private void attendFour(int r, int h0, StepRows step, float[] qLatent, float[] q, int layer, LatentKvCache cache,
                            float scale, AttentionScratch s, float[] outLatent) {
        int kvLora = config.kvLoraRank();
        int heads = config.numHeads();
        int rows = step.count();
        int[] at = s.offsets; // the heads' latent queries (and outputs) [0, 4), rope queries [4, 8)
        for (int j = 0; j < 4; j++) {
            at[j] = ((h0 + j) * rows + r) * kvLora;
            at[4 + j] = (r * heads + h0 + j) * config.qkHeadDim() + config.qkNopeHeadDim();
        }
        LatentKvCache.Sequence seq = step.sequence(r);
        int length = step.position(r) + 1;
        int[] entries = s.entries;
        for (int t = 0; t < length; t++) entries[t] = cache.offset(seq, t);
        float[] scores = s.scores; // head j's at [j * length, (j + 1) * length)
        float[] four = s.four;
        float[] max = s.max;
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
        for (int t = 0; t < length; t++) {
            cache.score4(layer, entries[t], qLatent, q, at, four);
            for (int j = 0; j < 4; j++) {
                float score = four[j] * scale;
                scores[j * length + t] = score;
                max[j] = Math.max(max[j], score);
            }
        }
        float[] sum = s.sum;
        for (int j = 0; j < 4; j++) {
            float total = 0f;
            for (int t = j * length; t < (j + 1) * length; t++) {
                float p = (float) Math.exp(scores[t] - max[j]);
                scores[t] = p;
                total += p;
            }
            sum[j] = total;
        }
        for (int j = 0; j < 4; j++) {
            for (int t = j * length; t < (j + 1) * length; t++) scores[t] = scores[t] / sum[j];
        }
        cache.weightedLatents4(layer, entries, length, scores, outLatent, at);
    }

    /** Per-thread softmax scores, grown to the longest context seen (times the heads a task attends), and small sums. */
    private static final class AttentionScratch {
        private static final ThreadLocal<AttentionScratch> SCRATCH = ThreadLocal.withInitial(AttentionScratch::new);

        float[] scores = new float[256];
        int[] entries = new int[64];
        final int[] offsets = new int[8];
        final float[] four = new float[8];
        final float[] max = new float[4];
        final float[] sum = new float[4];

        static AttentionScratch get(int scores) {
            AttentionScratch s = SCRATCH.get();
            if (s.scores.length < scores) s.scores = new float[Math.max(scores, s.scores.length * 2)];
            if (s.entries.length < scores) s.entries = new int[s.scores.length]; // at least the positions
            return s;
        }
    }
}
