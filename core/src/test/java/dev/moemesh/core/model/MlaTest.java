package dev.moemesh.core.model;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.tensor.Matrix;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MlaTest {

    /**
     * The absorbed form (scores against cached latents, W_UK folded into the query, W_UV applied after the
     * softmax) against the naive form that decompresses every cached latent into per-head keys and values with
     * kv_b_proj. Same inputs, same cache entries; only the order of the linear maps differs.
     */
    @ParameterizedTest
    @EnumSource(value = Preset.class, names = {"TINY_V3", "TINY_V2LITE"})
    void absorbedAttentionEqualsTheNaiveDecompressedForm(Preset preset) {
        int rows = 11;
        Prompt prompt = Prompt.attended(preset, rows, 3);
        Model model = prompt.model();
        ModelConfig c = model.config();
        Mla mla = model.block(1).attention();
        int hidden = c.hiddenSize();
        LatentKvCache cache = prompt.cache();
        LatentKvCache.Sequence seq = prompt.sequence();
        StepRows step = prompt.step();
        Workspace ws = prompt.ws();
        float[] absorbed = prompt.out();

        // naive: rebuild keys and values from the cached latents, then plain attention with the same queries
        int heads = c.numHeads(), nope = c.qkNopeHeadDim(), rope = c.qkRopeHeadDim(), v = c.vHeadDim();
        int kvLora = c.kvLoraRank(), qk = nope + rope;
        float[] q = ws.buffer(Workspace.Slot.Q, rows * heads * qk).clone(); // rotated queries left by forward
        Matrix kvB = mla.kvUpProjection();
        float[] latents = new float[rows * kvLora];
        float[] entries = new float[rows * (kvLora + rope)];
        for (int t = 0; t < rows; t++) {
            cache.read(1, seq, t, entries, t * (kvLora + rope));
            System.arraycopy(entries, t * (kvLora + rope), latents, t * kvLora, kvLora);
        }
        float[] kv = new float[rows * heads * (nope + v)];
        kvB.multiply(latents, rows, kv);
        float[] attn = new float[rows * heads * v];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                double[] p = new double[r + 1];
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int t = 0; t <= r; t++) {
                    double dot = 0;
                    for (int i = 0; i < nope; i++) dot += q[(r * heads + h) * qk + i] * kv[(t * heads + h) * (nope + v) + i];
                    int pe = t * (kvLora + rope) + kvLora;
                    for (int i = 0; i < rope; i++) dot += q[(r * heads + h) * qk + nope + i] * entries[pe + i];
                    p[t] = dot * step.softmaxScale();
                    max = Math.max(max, p[t]);
                }
                for (int t = 0; t <= r; t++) sum += p[t] = Math.exp(p[t] - max);
                for (int t = 0; t <= r; t++) {
                    for (int i = 0; i < v; i++) {
                        attn[(r * heads + h) * v + i] += (float) (p[t] / sum * kv[(t * heads + h) * (nope + v) + nope + i]);
                    }
                }
            }
        }
        float[] naive = new float[rows * hidden];
        Matrix wo = model.block(1).attention().outputProjection();
        wo.multiply(attn, rows, naive);
        for (int i = 0; i < naive.length; i++) assertEquals(naive[i], absorbed[i], 1e-4 * (1 + Math.abs(naive[i])), "element " + i);
    }

    /**
     * Heads attended four at a time (they read each cached latent once) give, head by head, what one head at a time
     * gives bit for bit: the scores, softmax and weighted sum of latents written out here one head and one entry at
     * a time with the cache's single-entry operations, against the attended latents the forward pass left.
     */
    @ParameterizedTest
    @EnumSource(value = Preset.class, names = {"TINY_V3", "TINY_V2LITE"})
    void headsAttendedFourAtATimeEqualOneHeadAtATimeBitForBit(Preset preset) {
        int rows = 13;
        Prompt prompt = Prompt.attended(preset, rows, 8);
        ModelConfig c = prompt.model().config();
        int heads = c.numHeads(), kvLora = c.kvLoraRank(), qk = c.qkHeadDim(), nope = c.qkNopeHeadDim();
        assertEquals(0, heads % 4, "the tiny presets' heads come in fours, so the forward pass groups them");
        LatentKvCache cache = prompt.cache();
        LatentKvCache.Sequence seq = prompt.sequence();
        StepRows step = prompt.step();
        Workspace ws = prompt.ws();
        float[] q = ws.buffer(Workspace.Slot.Q, rows * heads * qk);
        float[] qLatent = ws.buffer(Workspace.Slot.Q_ABSORBED, heads * rows * kvLora);
        float[] attended = ws.buffer(Workspace.Slot.ATTN_LATENT, heads * rows * kvLora);

        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int latent0 = (h * rows + r) * kvLora;
                float[] scores = new float[r + 1];
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t <= r; t++) {
                    scores[t] = cache.score(1, cache.offset(seq, t), qLatent, latent0, q, (r * heads + h) * qk + nope)
                            * step.softmaxScale();
                    max = Math.max(max, scores[t]);
                }
                float sum = 0f;
                for (int t = 0; t <= r; t++) {
                    scores[t] = (float) Math.exp(scores[t] - max);
                    sum += scores[t];
                }
                float[] expected = new float[kvLora];
                for (int t = 0; t <= r; t++) cache.addLatent(1, cache.offset(seq, t), scores[t] / sum, expected, 0);
                for (int i = 0; i < kvLora; i++) {
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(attended[latent0 + i]),
                            "row " + r + " head " + h + " latent " + i);
                }
            }
        }
    }

    /** Layer 1's attention run over a prompt of random hidden states, one sequence at positions 0 .. rows-1. */
    private record Prompt(Model model, LatentKvCache cache, LatentKvCache.Sequence sequence, StepRows step,
                          Workspace ws, float[] out) {
        static Prompt attended(Preset preset, int rows, long seed) {
            Model model = Model.load(TestModels.tiny(preset), 0);
            ModelConfig c = model.config();
            float[] x = new float[rows * c.hiddenSize()];
            SplittableRandom random = new SplittableRandom(seed);
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
            LatentKvCache cache = model.newCache(4, 8);
            LatentKvCache.Sequence seq = cache.newSequence();
            cache.reserve(seq, rows);
            int[] positions = new int[rows];
            LatentKvCache.Sequence[] seqs = new LatentKvCache.Sequence[rows];
            for (int r = 0; r < rows; r++) {
                positions[r] = r;
                seqs[r] = seq;
            }
            StepRows step = new StepRows(new int[rows], positions, seqs, rows, model.rope(), c.qkRopeHeadDim());
            Workspace ws = new Workspace();
            float[] out = new float[rows * c.hiddenSize()];
            model.block(1).attention().forward(step, x, out, cache, 1, ws);
            return new Prompt(model, cache, seq, step, ws, out);
        }
    }
}
