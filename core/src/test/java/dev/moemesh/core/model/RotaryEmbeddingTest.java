package dev.moemesh.core.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.SamplingParams;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RotaryEmbeddingTest {

    /**
     * rope dim 8, theta 10000, YaRN factor 4 over an original context of 64, beta 32/1.
     * Correction dims: 8·ln(64/(32·2π))/(2·ln 10000) = -0.497 → low 0; 8·ln(64/2π)/(2 ln 10000) = 1.008 → high 2.
     * Ramp over i = 0..3: 0, .5, 1, 1, so freq_i = f_i·(1-ramp) + f_i/4·ramp.
     */
    @Test
    void yarnEngagesOnlyPastTheOriginalContext() {
        ModelConfig c = ModelConfig.parse(Preset.TINY_V3.config(), Path.of("config.json"));
        RotaryEmbedding plain = new RotaryEmbedding(c, 64);
        RotaryEmbedding yarn = new RotaryEmbedding(c, 65);
        assertFalse(plain.yarnEngaged());
        assertTrue(yarn.yarnEngaged());
        double[] f = {1, Math.pow(10000, -0.25), Math.pow(10000, -0.5), Math.pow(10000, -0.75)};
        double[] ramp = {0, 0.5, 1, 1};
        for (int i = 0; i < 4; i++) {
            assertEquals(f[i], plain.frequency(i), 1e-6 * f[i]);
            assertEquals(f[i] * (1 - ramp[i]) + f[i] / 4 * ramp[i], yarn.frequency(i), 1e-6 * f[i], "i=" + i);
        }
        double base = 1 / Math.sqrt(24);
        double mscale = 0.1 * Math.log(4) + 1;
        assertEquals(base, plain.softmaxScale(), 1e-7);
        assertEquals(base * mscale * mscale, yarn.softmaxScale(), 1e-7);
    }

    @Test
    void withoutAServedContextYarnFollowsTheConfigAsHuggingFaceDoes() {
        ObjectNode json = Preset.TINY_V3.config().put("max_position_embeddings", 32); // below the original 64
        ModelConfig c = ModelConfig.parse(json, Path.of("config.json"));
        assertTrue(new RotaryEmbedding(c, 0).yarnEngaged());
        assertFalse(new RotaryEmbedding(c, 32).yarnEngaged());
        ModelConfig plain = ModelConfig.parse(Preset.TINY_V3.config().putNull("rope_scaling"), Path.of("config.json"));
        assertFalse(new RotaryEmbedding(plain, 0).yarnEngaged());
    }

    @Test
    void mscaleFollowsTheConfigAndTheRotationKeepsNorms() {
        ObjectNode json = Preset.TINY_V2LITE.config();
        ModelConfig c = ModelConfig.parse(json, Path.of("config.json"));
        RotaryEmbedding yarn = new RotaryEmbedding(c, 256);
        double m = 0.1 * 0.707 * Math.log(4) + 1;
        assertEquals(1 / Math.sqrt(24) * m * m, yarn.softmaxScale(), 1e-7);
        float[] cos = new float[4], sin = new float[4];
        yarn.angles(37, cos, sin, 0);
        float[] v = {1, 2, 3, 4, 5, 6, 7, 8};
        double before = 0, after = 0;
        for (float x : v) before += x * x;
        RotaryEmbedding.rotate(v, 0, cos, sin, 0, 4);
        for (float x : v) after += x * x;
        assertEquals(before, after, 1e-4, "mscale == mscale_all_dim: rotation only");
    }

    @Test
    void servedContextChangesTheTokensOnlyThroughYarn() {
        Path dir = TestModels.tiny(Preset.TINY_V3);
        int[] prompt = new int[40];
        for (int i = 0; i < prompt.length; i++) prompt[i] = 5 + 11 * i % 400;
        GenerationRequest r = new GenerationRequest("y", prompt, SamplingParams.greedy(20));
        int[] plain = new BatchingEngine(Model.load(dir, 64), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
        int[] alsoPlain = new BatchingEngine(Model.load(dir, 60), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
        int[] yarn = new BatchingEngine(Model.load(dir, 256), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
        assertEquals(java.util.Arrays.toString(plain), java.util.Arrays.toString(alsoPlain));
        assertNotEquals(java.util.Arrays.toString(plain), java.util.Arrays.toString(yarn));
    }
}
