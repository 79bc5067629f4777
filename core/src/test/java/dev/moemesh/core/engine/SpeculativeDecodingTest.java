package dev.moemesh.core.engine;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
import dev.moemesh.core.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.moemesh.core.engine.TestRequests.greedy;
import static dev.moemesh.core.engine.TestRequests.prompt;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Speculative decoding with the MTP module gives exactly the tokens of decoding one at a time, whatever the drafts'
 * acceptance: on a random checkpoint (drafts almost all rejected, so the rejected positions' cache entries must be
 * written over), on predictable ones (drafts mostly or half accepted), alone and in continuous batches, with one or
 * two micro-batches.
 */
class SpeculativeDecodingTest {

    private static Model withMtp(Path dir) {
        return Model.load(dir, 0, null, ModelOptions.configured().withMtp(true));
    }

    private static List<GenerationRequest> batch(int size) {
        int[] lengths = {1, 3, 17, 40, 9, 64, 2, 5};
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < size; i++) requests.add(greedy("r" + i, prompt(lengths[i % lengths.length], i), 7 + 3 * i));
        return requests;
    }

    private static Path checkpoint(String kind) {
        return switch (kind) {
            case "random" -> TestModels.tinyWithMtp(Preset.TINY_V3);
            case "random-v2lite" -> TestModels.tinyWithMtp(Preset.TINY_V2LITE);
            case "predictable" -> TestModels.predictable(Preset.TINY_V3, 1.0);
            case "half" -> TestModels.predictable(Preset.TINY_V3, 0.5);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest(name = "{0} checkpoint, batch {1}, {2} speculative token(s), {3} micro-batch(es)")
    @CsvSource({
            "random, 1, 1, 1", "random, 8, 1, 1", "random, 8, 3, 2", "random-v2lite, 5, 2, 1",
            "predictable, 1, 1, 1", "predictable, 8, 1, 1", "predictable, 8, 2, 2",
            "half, 1, 1, 1", "half, 8, 3, 1", "half, 8, 1, 2"})
    void greedyTokensWithSpeculationEqualThoseWithout(String kind, int batchSize, int k, int microBatches) {
        Path dir = checkpoint(kind);
        List<GenerationRequest> requests = batch(batchSize);
        EngineOptions plain = EngineOptions.defaults().withPrefillChunk(8).withMicroBatches(microBatches);
        List<Generation> expected = new BatchingEngine(Model.load(dir, 0), plain).generate(requests);
        BatchingEngine speculating = new BatchingEngine(withMtp(dir), plain.withSpeculativeTokens(k));
        List<Generation> actual = speculating.generate(requests);
        for (int i = 0; i < requests.size(); i++) {
            assertArrayEquals(expected.get(i).tokenIds(), actual.get(i).tokenIds(), "sequence " + i);
            assertEquals(expected.get(i).finishReason(), actual.get(i).finishReason(), "sequence " + i);
        }
        EngineStats.Speculation s = speculating.stats().speculation();
        assertEquals(k, s.speculativeTokens());
        assertTrue(s.drafted() > 0, "drafted " + s);
        if (!kind.startsWith("random")) assertTrue(s.accepted() > 0, "some drafts accepted: " + s);
        assertEquals(0, speculating.cache().totalBlocks() - speculating.cache().freeBlocks(), "blocks returned");
    }

    @Test
    void draftsOfAPredictableCheckpointAreMostlyAcceptedAndCounted() {
        Path dir = checkpoint("predictable");
        BatchingEngine engine = new BatchingEngine(withMtp(dir), EngineOptions.defaults().withSpeculativeTokens(1));
        Generation g = engine.generate(List.of(greedy("p", prompt(6, 1), 40))).get(0);
        assertEquals(40, g.tokenIds().length);
        EngineStats.Speculation s = engine.stats().speculation();
        // each step verifies one draft; the last step has none (one token left), the first step is the prompt's
        assertEquals(s.decodeSteps() + s.accepted(), 39, s.toString());
        assertTrue(s.acceptanceRate() >= 0.8, "acceptance " + s.acceptanceRate());
        assertTrue(s.tokensPerStep() >= 1.8, "tokens per step " + s.tokensPerStep());
        assertEquals(40, engine.stats().generatedTokens());
    }

    @Test
    void aSequenceWhoseDraftsAreRarelyAcceptedStopsDraftingAndKeepsItsTokens() {
        Path dir = checkpoint("random"); // the main model all but never accepts the random module's drafts
        GenerationRequest r = greedy("r", prompt(6, 2), 60);
        int[] plain = new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults()).generate(List.of(r)).get(0)
                .tokenIds();

        BatchingEngine judged = new BatchingEngine(withMtp(dir), EngineOptions.defaults().withSpeculativeTokens(1));
        BatchingEngine always = new BatchingEngine(withMtp(dir), EngineOptions.defaults().withSpeculativeTokens(1)
                .withSpeculativeMinAcceptance(0));

        assertArrayEquals(plain, judged.generate(List.of(r)).get(0).tokenIds());
        assertArrayEquals(plain, always.generate(List.of(r)).get(0).tokenIds());
        EngineStats.Speculation stopped = judged.stats().speculation();
        EngineStats.Speculation drafting = always.stats().speculation();
        assertTrue(drafting.accepted() < 0.3 * drafting.drafted(), "the drafts are rarely right: " + drafting);
        // judged after 16 drafts, each step verifying one: no draft after the judgement
        assertEquals(EngineOptions.SPECULATION_JUDGED_AFTER, stopped.drafted(), stopped.toString());
        assertTrue(drafting.drafted() > 40, "with no least acceptance it drafts on every step: " + drafting);
    }

    @Test
    void stopTokenInsideAcceptedDraftsEndsTheSequenceThere() {
        Path dir = checkpoint("predictable");
        int[] free = new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults())
                .generate(List.of(greedy("free", prompt(5, 3), 12))).get(0).tokenIds();
        int stop = free[6];
        GenerationRequest stopping = new GenerationRequest("stop", prompt(5, 3),
                new SamplingParams(12, 0f, 0, 1f, 0, new int[] {stop}, true));
        Generation g = new BatchingEngine(withMtp(dir), EngineOptions.defaults().withSpeculativeTokens(3))
                .generate(List.of(stopping)).get(0);
        assertEquals(FinishReason.STOP, g.finishReason());
        int firstStop = 0;
        while (free[firstStop] != stop) firstStop++;
        assertArrayEquals(java.util.Arrays.copyOf(free, firstStop), g.tokenIds());
    }

    @Test
    void sampledSequencesDraftAndTheirSeedReproducesTheirAnswerAloneOrInABatch() {
        Path dir = checkpoint("half");
        Model model = withMtp(dir);
        EngineOptions options = EngineOptions.defaults().withSpeculativeTokens(2);
        GenerationRequest sampled = new GenerationRequest("s", prompt(8, 4),
                new SamplingParams(24, 0.8f, 0, 1f, 1234, null, true));
        BatchingEngine aloneEngine = new BatchingEngine(model, options);
        int[] alone = aloneEngine.generate(List.of(sampled)).get(0).tokenIds();
        assertEquals(24, alone.length);
        assertTrue(aloneEngine.stats().speculation().drafted() > 0, "sampled sequences draft");
        assertTrue(aloneEngine.stats().speculation().accepted() > 0, "and some drafts are kept");
        List<GenerationRequest> batch = List.of(greedy("g", prompt(30, 9), 20), sampled,
                new GenerationRequest("t", prompt(5, 2), new SamplingParams(12, 1.2f, 20, 0.9f, 99, null, true)));
        int[] inBatch = new BatchingEngine(model, options.withMicroBatches(2)).generate(batch).get(1).tokenIds();
        assertArrayEquals(alone, inBatch);
        int[] otherSeed = new BatchingEngine(model, options).generate(List.of(new GenerationRequest("s", prompt(8, 4),
                new SamplingParams(24, 0.8f, 0, 1f, 99, null, true)))).get(0).tokenIds();
        assertTrue(!java.util.Arrays.equals(alone, otherSeed), "another seed, another answer");
    }

    @Test
    void greedySequencesArrivingAboveTheMaxBatchDoNotDraftAndKeepTheirTokens() {
        Path dir = checkpoint("predictable");
        Model model = withMtp(dir);
        List<GenerationRequest> four = batch(4);
        List<Generation> plain = new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults()).generate(four);
        EngineOptions drafting = EngineOptions.defaults().withSpeculativeTokens(1);

        BatchingEngine atTheLimit = new BatchingEngine(model, drafting.withSpeculativeMaxBatch(4));
        BatchingEngine aboveIt = new BatchingEngine(model, drafting.withSpeculativeMaxBatch(3));
        List<Generation> drafted = atTheLimit.generate(four);
        List<Generation> undrafted = aboveIt.generate(four);

        for (int i = 0; i < four.size(); i++) {
            assertArrayEquals(plain.get(i).tokenIds(), drafted.get(i).tokenIds(), "sequence " + i);
            assertArrayEquals(plain.get(i).tokenIds(), undrafted.get(i).tokenIds(), "sequence " + i);
        }
        assertTrue(atTheLimit.stats().speculation().accepted() > 0, atTheLimit.stats().speculation().toString());
        assertEquals(0, aboveIt.stats().speculation().drafted(), "four in the engine, three drafting at most");
        // the load a sequence meets on arrival decides: alone afterwards, the next one drafts again
        aboveIt.generate(List.of(four.get(3)));
        assertTrue(aboveIt.stats().speculation().drafted() > 0, aboveIt.stats().speculation().toString());
    }

    @Test
    void sampledSequencesDraftWhateverTheLoadSoTheirSeedKeepsItsAnswer() {
        Model model = withMtp(checkpoint("half"));
        EngineOptions options = EngineOptions.defaults().withSpeculativeTokens(1);
        GenerationRequest sampled = new GenerationRequest("s", prompt(8, 4),
                new SamplingParams(24, 0.8f, 0, 1f, 1234, null, true));
        int[] alone = new BatchingEngine(model, options).generate(List.of(sampled)).get(0).tokenIds();

        BatchingEngine limited = new BatchingEngine(model, options.withSpeculativeMaxBatch(1));
        List<Generation> busy = limited.generate(List.of(greedy("g", prompt(30, 9), 20), sampled));
        assertArrayEquals(alone, busy.get(1).tokenIds());
        assertTrue(limited.stats().speculation().drafted() > 0, "the sampled sequence drafted");
    }

    @Test
    void aNegativeMaxBatchIsRefused() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> EngineOptions.defaults().withSpeculativeTokens(1).withSpeculativeMaxBatch(-1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    @Test
    void speculationWithoutAnMtpModuleIsRefused() {
        Model plain = Model.load(TestModels.tiny(Preset.TINY_V3), 0);
        var e = assertThrows(IllegalArgumentException.class,
                () -> new BatchingEngine(plain, EngineOptions.defaults().withSpeculativeTokens(1)));
        assertTrue(e.getMessage().contains("multi-token-prediction"), e.getMessage());
        var noLayer = assertThrows(IllegalArgumentException.class, () -> withMtp(TestModels.tiny(Preset.TINY_V3)));
        assertTrue(noLayer.getMessage().contains("num_nextn_predict_layers"), noLayer.getMessage());
    }

    @Test
    void aCheckpointWithAnMtpLayerServesAsBeforeWithoutSpeculation() {
        // the MTP layer's presence changes nothing for the main model: same tokens as the checkpoint without it
        List<GenerationRequest> requests = batch(4);
        List<Generation> without = new BatchingEngine(Model.load(TestModels.tiny(Preset.TINY_V3), 0),
                EngineOptions.defaults()).generate(requests);
        List<Generation> with = new BatchingEngine(Model.load(checkpoint("random"), 0), EngineOptions.defaults())
                .generate(requests);
        for (int i = 0; i < requests.size(); i++) assertArrayEquals(without.get(i).tokenIds(), with.get(i).tokenIds());
    }
}
