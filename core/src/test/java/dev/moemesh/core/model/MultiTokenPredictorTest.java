package dev.moemesh.core.model;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.weights.WeightReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MTP module against the plain double-precision reference, and what loading a checkpoint with one does. */
class MultiTokenPredictorTest {

    /**
     * The module's logits at the last position, against {@link ReferenceDeepSeek#mtpLogits}: the main model runs the
     * whole sequence, then the module runs its first positions in one step and the last in another, so the last reads
     * its own cache layer as written by the first.
     */
    @ParameterizedTest
    @EnumSource(value = Preset.class, names = {"TINY_V3", "TINY_V2LITE"})
    void mtpLogitsMatchTheReference(Preset preset) {
        Path dir = TestModels.tinyWithMtp(preset);
        Model model = Model.load(dir, 0, null,
                new ModelOptions(WeightReader.Fp8Weights.FP8, LatentKvCache.Format.BF16, true));
        MultiTokenPredictor mtp = model.mtp().orElseThrow();
        ReferenceDeepSeek reference = new ReferenceDeepSeek(dir, model.rope().yarnEngaged(), true, true);
        int[] tokens = {0, 17, 42, 300, 5, 99, 128, 7, 64};
        int s = tokens.length;
        int hidden = model.config().hiddenSize();
        int vocab = model.config().vocabSize();
        int ropeDim = model.config().qkRopeHeadDim();

        LatentKvCache cache = model.newCache(4, 8);
        LatentKvCache.Sequence seq = cache.newSequence();
        cache.reserve(seq, s);
        LatentKvCache.Sequence[] seqs = new LatentKvCache.Sequence[s];
        Arrays.fill(seqs, seq);
        int[] positions = new int[s];
        for (int i = 0; i < s; i++) positions[i] = i;
        Workspace ws = new Workspace();
        float[] normed = new float[s * hidden];
        model.forward(new StepRows(tokens, positions, seqs, s, model.rope(), ropeDim), cache, ws, new int[0], 0,
                new float[0], normed);

        // module row i: (main state at i, token i + 1); rows 0 .. s-3 first, then row s-2 alone
        int[] next = Arrays.copyOfRange(tokens, 1, s);
        mtp.forward(new StepRows(next, positions, seqs, s - 2, model.rope(), ropeDim), normed, cache, ws, new int[0], 0,
                null, null);
        float[] logits = new float[vocab];
        mtp.forward(new StepRows(new int[] {next[s - 2]}, new int[] {s - 2}, new LatentKvCache.Sequence[] {seq}, 1,
                        model.rope(), ropeDim), Arrays.copyOfRange(normed, (s - 2) * hidden, (s - 1) * hidden), cache, ws,
                new int[] {0}, 1, logits, null);

        // the module itself, on the main model's states as the engine computed them: agreement to float rounding
        double[][] engineStates = new double[s][hidden];
        for (int r = 0; r < s; r++) for (int i = 0; i < hidden; i++) engineStates[r][i] = normed[r * hidden + i];
        double[] expected = reference.mtpLogits(tokens, engineStates);
        double scale = 0;
        for (double v : expected) scale = Math.max(scale, Math.abs(v));
        for (int v = 0; v < vocab; v++) assertEquals(expected[v], logits[v], 1e-5 * scale, "MTP logit " + v);
        // end to end, main model included: the main states' own differences (~1e-4 of the logits' scale on V3,
        // from bf16 roundings of the routed experts' inputs) pass through one more layer, so a looser bound
        double[] endToEnd = reference.mtpLogits(tokens);
        for (int v = 0; v < vocab; v++) assertEquals(endToEnd[v], logits[v], 5e-3 * scale, "MTP logit " + v + " end to end");
        // and the main model's own logits differ: the module is not the main head by another name
        double[] mainLogits = reference.logits(tokens);
        assertFalse(Arrays.equals(mainLogits, endToEnd));
    }

    @Test
    void configCountsTheMtpLayerAsAMoeLayerAfterTheMainOnes() {
        ModelConfig with = ModelConfig.load(TestModels.tinyWithMtp(Preset.TINY_V3));
        ModelConfig without = ModelConfig.load(TestModels.tiny(Preset.TINY_V3));
        assertEquals(1, with.numNextnPredictLayers());
        assertEquals(0, without.numNextnPredictLayers());
        assertEquals(with.numLayers(), with.mtpLayer());
        assertEquals(with.numLayers() + 1, with.allLayers());
        assertTrue(with.isMoeLayer(with.mtpLayer()));
        assertFalse(without.isMoeLayer(without.numLayers()), "no layer past the last without an MTP layer");
        assertEquals(without.moeLayers().length + 1, with.moeLayers().length);
    }

    @Test
    void mtpLayerIsLoadedOnlyWhenAskedFor() {
        Path dir = TestModels.tinyWithMtp(Preset.TINY_V3);
        Model plain = Model.load(dir, 0);
        assertTrue(plain.mtp().isEmpty());
        Model drafting = Model.load(dir, 0, null, ModelOptions.configured().withMtp(true));
        assertTrue(drafting.mtp().isPresent());
    }

    @Test
    void anMtpHeadEqualToLmHeadIsHeldOnce() {
        // random checkpoints write shared_head.head as lm_head's weights, as DeepSeek-V3's release does
        Model same = Model.load(TestModels.tinyWithMtp(Preset.TINY_V3), 0, null, ModelOptions.configured().withMtp(true));
        assertSame(same.lmHead(), same.mtp().orElseThrow().head());
        // a predictable checkpoint below full agreement drafts with a head of its own
        Model own = Model.load(TestModels.predictable(Preset.TINY_V3, 0.5), 0, null,
                ModelOptions.configured().withMtp(true));
        assertNotSame(own.lmHead(), own.mtp().orElseThrow().head());
    }
}
