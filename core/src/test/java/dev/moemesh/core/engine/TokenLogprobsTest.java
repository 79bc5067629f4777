package dev.moemesh.core.engine;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.StepRows;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.model.Workspace;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenLogprobsTest {
    private static final int[] PROMPT = {4, 2, 7, 1, 99, 300};
    private static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tiny(Preset.TINY_V3), 0);
    }

    /** Each token the engine told, with what it told about it. */
    private record Told(int token, TokenLogprobs logprobs) {}

    private static List<Told> generate(SamplingParams sampling) {
        List<Told> told = new ArrayList<>();
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        engine.submit(new GenerationRequest("r", PROMPT, sampling), new TokenListener() {
            @Override
            public void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {
                told.add(new Told(tokenId, logprobs));
            }

            @Override
            public void onFinish(Generation generation) {}
        });
        while (engine.hasWork()) engine.step();
        return told;
    }

    /** The model's log-softmax after {@code tokens}, from one forward pass over all of them in a cache of their own. */
    private static double[] logSoftmaxAfter(int[] tokens) {
        int s = tokens.length;
        int vocab = model.config().vocabSize();
        LatentKvCache cache = model.newCache(16, (s + 15) / 16);
        LatentKvCache.Sequence seq = cache.newSequence();
        cache.reserve(seq, s);
        LatentKvCache.Sequence[] seqs = new LatentKvCache.Sequence[s];
        Arrays.fill(seqs, seq);
        float[] logits = new float[vocab];
        model.forward(new StepRows(tokens, IntStream.range(0, s).toArray(), seqs, s, model.rope(),
                model.config().qkRopeHeadDim()), cache, new Workspace(), new int[] {s - 1}, 1, logits);
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        double logZ = max + Math.log(sum);
        double[] out = new double[vocab];
        for (int v = 0; v < vocab; v++) out[v] = logits[v] - logZ;
        return out;
    }

    private static void assertTheModelsLogSoftmax(List<Told> told, int k) {
        int[] sequence = Arrays.copyOf(PROMPT, PROMPT.length + told.size());
        for (int i = 0; i < told.size(); i++) {
            Told t = told.get(i);
            double[] expected = logSoftmaxAfter(Arrays.copyOf(sequence, PROMPT.length + i));
            assertEquals(expected[t.token()], t.logprobs().logprob(), 1e-4, "token " + i);
            Integer[] order = IntStream.range(0, expected.length).boxed().toArray(Integer[]::new);
            Arrays.sort(order, Comparator.comparingDouble((Integer v) -> -expected[v]).thenComparingInt(v -> v));
            assertEquals(k, t.logprobs().topIds().length);
            for (int j = 0; j < k; j++) {
                assertEquals(order[j], t.logprobs().topIds()[j], "token " + i + ", alternative " + j);
                assertEquals(expected[order[j]], t.logprobs().topLogprobs()[j], 1e-4,
                        "token " + i + ", alternative " + j);
            }
            sequence[PROMPT.length + i] = t.token();
        }
    }

    @Test
    void greedyTokensCarryTheLogSoftmaxOfTheModelsLogitsAndAreTheirOwnTopAlternative() {
        List<Told> told = generate(new SamplingParams(8, 0f, 0, 1f, 0, null, true, 20));
        assertEquals(8, told.size());
        assertTheModelsLogSoftmax(told, 20);
        for (Told t : told) {
            assertEquals(t.token(), t.logprobs().topIds()[0], "greedy picks the most likely token");
            assertEquals(t.logprobs().logprob(), t.logprobs().topLogprobs()[0]);
            double mass = 0;
            for (float lp : t.logprobs().topLogprobs()) mass += Math.exp(lp);
            assertTrue(mass <= 1 + 1e-5, "20 of the vocabulary's probabilities sum to at most 1: " + mass);
        }
    }

    @Test
    void sampledTokensCarryTheRawDistributionNotTheTemperaturesOne() {
        List<Told> told = generate(new SamplingParams(6, 1.7f, 5, 0.9f, 11, null, true, 3));
        assertTheModelsLogSoftmax(told, 3);
    }

    @Test
    void logprobsZeroGivesTheTokensOwnOnlyAndNoneAskedGivesNull() {
        List<Told> own = generate(new SamplingParams(4, 0f, 0, 1f, 0, null, true, 0));
        assertEquals(0, own.get(0).logprobs().topIds().length);
        assertTrue(own.get(0).logprobs().logprob() < 0);
        List<Told> none = generate(SamplingParams.greedy(4));
        assertNull(none.get(0).logprobs());
        assertArrayEquals(own.stream().mapToInt(Told::token).toArray(), none.stream().mapToInt(Told::token).toArray(),
                "asking for logprobs changes no token");
    }

    @Test
    void moreThanTwentyAlternativesAreRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> new SamplingParams(4, 0f, 0, 1f, 0, null, true, 21));
        assertEquals("top_logprobs must be from 0 to 20, got 21", e.getMessage());
    }
}
