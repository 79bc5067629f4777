package dev.moemesh.core.engine;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.moemesh.core.engine.TestRequests.greedy;
import static dev.moemesh.core.engine.TestRequests.prompt;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchingEngineTest {
    private static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tiny(Preset.TINY_V3), 0);
    }

    private static int[] alone(GenerationRequest request, EngineOptions options) {
        return new BatchingEngine(model, options).generate(List.of(request)).get(0).tokenIds();
    }

    @Test
    void mixedLengthBatchGivesTheSameTokensAsEachSequenceAlone() {
        List<GenerationRequest> requests = new ArrayList<>();
        int[] lengths = {1, 3, 17, 40, 9, 64, 2};
        for (int i = 0; i < lengths.length; i++) requests.add(greedy("r" + i, prompt(lengths[i], i), 6 + 3 * i));
        List<Generation> together = new BatchingEngine(model, EngineOptions.defaults().withPrefillChunk(8)).generate(requests);
        for (int i = 0; i < requests.size(); i++) {
            int[] expected = alone(requests.get(i), EngineOptions.defaults());
            assertArrayEquals(expected, together.get(i).tokenIds(), "sequence " + i + " in a batch vs alone");
            assertEquals(FinishReason.LENGTH, together.get(i).finishReason());
            assertEquals(6 + 3 * i, together.get(i).tokenIds().length);
        }
    }

    @Test
    void twoMicroBatchesGiveTheSameTokensAsOneAlsoWithExpertsComputedOnAnotherThread() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>();
        int[] lengths = {1, 3, 17, 40, 9, 64, 2, 5};
        for (int i = 0; i < lengths.length; i++) requests.add(greedy("m" + i, prompt(lengths[i], i), 5 + 2 * i));
        List<Generation> one = new BatchingEngine(model, EngineOptions.defaults().withPrefillChunk(8)).generate(requests);

        List<Generation> two = new BatchingEngine(model, EngineOptions.defaults().withPrefillChunk(8).withMicroBatches(2))
                .generate(requests);
        Path dir = TestModels.tiny(Preset.TINY_V3);
        ExecutorService away = Executors.newFixedThreadPool(2);
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            // routed experts computed elsewhere, as an expert service would: submit returns before the outputs exist
            LocalExperts experts = LocalExperts.loadAll(new WeightReader(ckpt), ModelConfig.load(dir));
            ExpertBackend elsewhere = new ExpertBackend() {
                @Override
                public void run(RoutedBatch batch) {
                    experts.run(batch);
                }

                @Override
                public Pending submit(RoutedBatch batch) {
                    Future<?> f = away.submit(() -> experts.run(batch));
                    return () -> {
                        try {
                            f.get();
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    };
                }
            };
            Model split = Model.load(dir, 0, elsewhere);
            List<Generation> twoAway = new BatchingEngine(split, EngineOptions.defaults().withPrefillChunk(8)
                    .withMicroBatches(2)).generate(requests);
            for (int i = 0; i < requests.size(); i++) {
                assertArrayEquals(one.get(i).tokenIds(), two.get(i).tokenIds(), "sequence " + i + ", two micro-batches");
                assertArrayEquals(one.get(i).tokenIds(), twoAway.get(i).tokenIds(),
                        "sequence " + i + ", two micro-batches, experts on another thread");
            }
        } finally {
            away.shutdownNow();
        }
    }

    @Test
    void statsCountTokensAndFreeTheCacheAtTheEnd() {
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        engine.generate(List.of(greedy("s1", prompt(10, 1), 7), greedy("s2", prompt(3, 2), 4)));
        EngineStats stats = engine.stats();
        assertEquals(11, stats.generatedTokens());
        assertEquals(13, stats.prefillTokens());
        assertEquals(0, stats.kvBlocksUsed());
        assertEquals(0, stats.running());
        assertEquals(EngineOptions.defaults().kvBlocks(), stats.kvBlocksTotal());
    }

    @Test
    void chunkedPrefillEqualsWholePrefill() {
        GenerationRequest request = greedy("long", prompt(100, 5), 12);
        int[] whole = alone(request, EngineOptions.defaults().withPrefillChunk(256));
        for (int chunk : new int[] {1, 7, 32, 99}) {
            assertArrayEquals(whole, alone(request, EngineOptions.defaults().withPrefillChunk(chunk)), "chunk " + chunk);
        }
    }

    @Test
    void sequencesJoiningMidwayDoNotChangeRunningOnes() {
        GenerationRequest first = greedy("first", prompt(20, 1), 30);
        GenerationRequest second = greedy("second", prompt(33, 2), 10);
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults().withPrefillChunk(4));
        List<Generation> done = new ArrayList<>();
        engine.submit(first, done::add);
        for (int i = 0; i < 12; i++) engine.step();
        engine.submit(second, done::add);
        while (engine.hasWork()) engine.step();
        assertEquals(2, done.size());
        for (Generation g : done) {
            GenerationRequest r = g.id().equals("first") ? first : second;
            assertArrayEquals(alone(r, EngineOptions.defaults()), g.tokenIds(), g.id());
        }
    }

    @Test
    void stopTokenEndsTheSequenceAndIsNotReturned() {
        int[] free = alone(greedy("free", prompt(5, 3), 10), EngineOptions.defaults());
        int stop = free[3];
        int firstStop = 0;
        while (free[firstStop] != stop) firstStop++;
        GenerationRequest stopping = new GenerationRequest("stop", prompt(5, 3),
                new SamplingParams(10, 0f, 0, 1f, 0, new int[] {stop}, true));
        Generation g = new BatchingEngine(model, EngineOptions.defaults()).generate(List.of(stopping)).get(0);
        assertEquals(FinishReason.STOP, g.finishReason());
        assertArrayEquals(java.util.Arrays.copyOf(free, firstStop), g.tokenIds());
    }

    @Test
    void seededSamplingIsReproducibleAndIndependentOfTheBatch() {
        SamplingParams sampled = new SamplingParams(16, 0.9f, 50, 0.95f, 1234, null, true);
        GenerationRequest r = new GenerationRequest("s", prompt(8, 4), sampled);
        int[] a = alone(r, EngineOptions.defaults());
        List<GenerationRequest> batch = List.of(greedy("g", prompt(30, 9), 20), r);
        int[] b = new BatchingEngine(model, EngineOptions.defaults()).generate(batch).get(1).tokenIds();
        assertArrayEquals(a, b);
        int[] otherSeed = alone(new GenerationRequest("s", prompt(8, 4),
                new SamplingParams(16, 0.9f, 50, 0.95f, 99, null, true)), EngineOptions.defaults());
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(otherSeed));
    }

    @Test
    void tokenOutsideVocabularyIsRefusedNamingTheRequest() {
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        var e = assertThrows(IllegalArgumentException.class,
                () -> engine.submit(greedy("bad", new int[] {1, 9999}, 4), g -> {}));
        assertTrue(e.getMessage().contains("bad") && e.getMessage().contains("9999"), e.getMessage());
        assertTrue(!engine.hasWork());
    }

    @Test
    void requestLongerThanTheServedContextIsRefused() {
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        var e = assertThrows(IllegalArgumentException.class,
                () -> engine.submit(greedy("long", prompt(10, 1), model.maxSeqLen()), g -> {}));
        assertTrue(e.getMessage().contains("served context"), e.getMessage());
    }

    @Test
    void maxTokensNearTheIntLimitIsRefusedNotWrappedPastTheContextCheck() {
        // prompt + max_tokens once wrapped to a negative int here and passed both the context and the KV cache check
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        var e = assertThrows(IllegalArgumentException.class,
                () -> engine.submit(greedy("huge", prompt(3, 1), Integer.MAX_VALUE), g -> {}));
        assertTrue(e.getMessage().contains("served context"), e.getMessage());
        assertTrue(!engine.hasWork());
    }

    @Test
    void requestsWaitForKvBlocksAndAllFinish() {
        // room for two sequences of 48 tokens at a time: the other four wait their turn
        BatchingEngine engine = new BatchingEngine(model, new EngineOptions(64, 16, 8, 16, 6));
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) requests.add(greedy("q" + i, prompt(16, i), 32));
        List<Generation> out = engine.generate(requests);
        for (int i = 0; i < 6; i++) {
            assertArrayEquals(alone(requests.get(i), EngineOptions.defaults()), out.get(i).tokenIds());
        }
        assertEquals(6, engine.cache().freeBlocks());
    }

    @Test
    void cancelledRequestEndsAndFreesItsBlocks() {
        BatchingEngine engine = new BatchingEngine(model, EngineOptions.defaults());
        List<Generation> done = new ArrayList<>();
        engine.submit(greedy("c", prompt(10, 1), 100), done::add);
        engine.step();
        engine.step();
        engine.cancel("c");
        engine.step();
        assertEquals(1, done.size());
        assertEquals(FinishReason.CANCELLED, done.get(0).finishReason());
        assertEquals(engine.cache().totalBlocks(), engine.cache().freeBlocks());
    }
}
