package dev.moemesh.core.engine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private static final float[] LOGITS = {1f, 3f, 2f, 3f, -1f, 0.5f};

    private static Sampler sampler(float temperature, int topK, float topP, long seed) {
        return new Sampler(new SamplingParams(8, temperature, topK, topP, seed, null, false));
    }

    /**
     * Speculative sampling: drafts drawn from a draft distribution q far from the main model's p, each kept or
     * replaced by {@link Sampler#speculate}, come out distributed as p (keeping every draft would give q; the
     * frequencies' standard error at this count is about 0.001).
     */
    @ParameterizedTest(name = "temperature {0}, top-k {1}, top-p {2}")
    @CsvSource({"1, 0, 1", "0.7, 4, 1", "1.3, 0, 0.9"})
    void speculativeSamplingLeavesTheMainModelsDistribution(float temperature, int topK, float topP) {
        float[] draftLogits = {3f, 0f, 1f, -1f, 2.5f, 0.5f};
        Sampler s = sampler(temperature, topK, topP, 7);
        Sampler.Distribution p = s.distribution(LOGITS, 0, LOGITS.length);
        Sampler.Distribution q = s.distribution(draftLogits, 0, LOGITS.length);
        double[] pDense = p.dense(LOGITS.length);
        double[] qDense = q.dense(LOGITS.length);
        int n = 200_000;
        int[] counts = new int[LOGITS.length];
        int kept = 0;
        for (int i = 0; i < n; i++) {
            int draft = s.draw(q);
            int token = s.speculate(p, qDense, draft);
            counts[token]++;
            if (token == draft) kept++;
        }
        double farthest = 0;
        for (int t = 0; t < LOGITS.length; t++) {
            assertEquals(pDense[t], counts[t] / (double) n, 0.006, "token " + t);
            farthest = Math.max(farthest, Math.abs(pDense[t] - qDense[t]));
        }
        assertTrue(farthest > 0.05, "q differs from p enough for the test to tell: " + farthest);
        double expectedKept = 0;
        for (int t = 0; t < LOGITS.length; t++) expectedKept += Math.min(pDense[t], qDense[t]);
        assertEquals(expectedKept, kept / (double) n, 0.006, "drafts kept: the sum of min(p, q)");
    }

    @Test
    void greedyTakesTheLargestLogitAndTheLowerIdOnATie() {
        assertEquals(1, sampler(0f, 0, 1f, 0).sample(LOGITS, 0, LOGITS.length));
        assertEquals(1, Sampler.argmax(new float[] {9f, 0f, 5f, 5f}, 1, 3), "index within the slice; the 9 before it is not seen");
    }

    @Test
    void topKOfOneAndATinyTopPAreGreedy() {
        for (long seed = 0; seed < 20; seed++) {
            assertEquals(1, sampler(1f, 1, 1f, seed).sample(LOGITS, 0, LOGITS.length));
            assertEquals(1, sampler(1f, 0, 0.01f, seed).sample(LOGITS, 0, LOGITS.length));
        }
    }

    @Test
    void topKKeepsOnlyTheKMostLikely() {
        Sampler s = sampler(5f, 3, 1f, 42);
        for (int i = 0; i < 500; i++) {
            int t = s.sample(LOGITS, 0, LOGITS.length);
            assertTrue(t == 1 || t == 3 || t == 2, "token " + t + " is outside the top 3");
        }
    }

    @Test
    void samplingFollowsTheSoftmaxAndTheSeed() {
        Sampler s = sampler(1f, 0, 1f, 7);
        Map<Integer, Integer> counts = new HashMap<>();
        int n = 20000;
        for (int i = 0; i < n; i++) counts.merge(s.sample(LOGITS, 0, LOGITS.length), 1, Integer::sum);
        double z = 0;
        for (float l : LOGITS) z += Math.exp(l);
        for (int t = 0; t < LOGITS.length; t++) {
            double expected = Math.exp(LOGITS[t]) / z;
            assertEquals(expected, counts.getOrDefault(t, 0) / (double) n, 0.015, "token " + t);
        }
        Sampler a = sampler(0.8f, 0, 0.9f, 123), b = sampler(0.8f, 0, 0.9f, 123);
        for (int i = 0; i < 100; i++) assertEquals(a.sample(LOGITS, 0, 6), b.sample(LOGITS, 0, 6));
    }

    @Test
    void invalidParametersAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(0, 0f, 0, 1f, 0, null, false))
                .getMessage().contains("max_tokens"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(4, -1f, 0, 1f, 0, null, false))
                .getMessage().contains("temperature"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(4, 1f, 0, 0f, 0, null, false))
                .getMessage().contains("top_p"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(4, 1f, -2, 1f, 0, null, false))
                .getMessage().contains("top_k"));
    }
}
