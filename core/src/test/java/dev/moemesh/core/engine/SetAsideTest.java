package dev.moemesh.core.engine;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.ExpertOutage;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.weights.WeightReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;

import static dev.moemesh.core.engine.TestRequests.greedy;
import static dev.moemesh.core.engine.TestRequests.prompt;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A routed expert that no holder serves costs only the sequences routed to it ({@link BatchingEngine} sets them
 * aside): the others go on with exactly their tokens alone, the ones set aside go on with exactly theirs once the
 * expert is served again, or end with the outage's error past its timeout, or at once when there is no outage.
 * The backend is the model's own experts computed in process, one of which it reports unserved while told to, as
 * a remote backend reports an expert whose services are all dead.
 */
class SetAsideTest {
    private static Path dir;
    private static LocalExperts experts;
    private static ModelConfig config;

    @BeforeAll
    static void load() {
        dir = TestModels.tiny(Preset.TINY_V3);
        config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            experts = LocalExperts.loadAll(new WeightReader(ckpt), config);
        }
    }

    @AfterAll
    static void unload() {
        experts = null;
    }

    /** An outage whose retry and timeout the test decides, and what the engine told it. */
    static final class TestOutage implements ExpertOutage {
        final Duration timeout;
        final BooleanSupplier retry;
        final List<String> heard = new CopyOnWriteArrayList<>();

        TestOutage(Duration timeout, BooleanSupplier retry) {
            this.timeout = timeout;
            this.retry = retry;
        }

        @Override
        public Duration timeout() {
            return timeout;
        }

        @Override
        public boolean worthRetrying() {
            return retry.getAsBoolean();
        }

        @Override
        public void parked(int first, int again, int goingOn) {
            heard.add("parked " + first + " " + again + " " + goingOn);
        }

        @Override
        public void healed(long waitedNanos) {
            heard.add("healed");
        }

        @Override
        public String gaveUp(long waitedNanos) {
            heard.add("gave up");
            return "expert gone; waited " + timeout.toMillis() + " ms";
        }
    }

    /** The in-process experts, but while {@code missing} is set, that (layer, expert) is reported unserved. */
    static final class FlakyExperts implements ExpertBackend {
        volatile int[] missing; // {layer, expert}, or null
        volatile ExpertOutage outage;
        final Map<String, Set<Long>> used = new HashMap<>(); // recording: (layer << 32 | expert) per label
        volatile String label;

        @Override
        public void run(RoutedBatch batch) {
            experts.run(batch);
            if (label != null) {
                Set<Long> set = used.computeIfAbsent(label, k -> new HashSet<>());
                for (int g = 0; g < batch.groups(); g++) set.add(((long) batch.layer() << 32) | batch.expertIds()[g]);
            }
            int[] m = missing;
            if (m == null || batch.layer() != m[0]) return;
            for (int g = 0; g < batch.groups(); g++) {
                if (batch.expertIds()[g] == m[1]) {
                    throw new ExpertsUnservedException("layer " + m[0] + " expert " + m[1] + " is held by no one",
                            m[0], new int[] {m[1]}, outage);
                }
            }
        }
    }

    /**
     * A model over {@link FlakyExperts}, a long request and a short one, and an expert the long one is routed to and
     * the short one never is ({@code missing}, not taken away yet): found by running each alone and recording.
     */
    record Fixture(FlakyExperts backend, Model model, GenerationRequest longOne, GenerationRequest shortOne,
                   int[] missing) {
        static Fixture of() {
            FlakyExperts backend = new FlakyExperts();
            Model model = Model.load(dir, 0, backend);
            GenerationRequest longOne = greedy("long", prompt(40, 1), 12);
            GenerationRequest shortOne = greedy("short", prompt(1, 2), 2);
            for (GenerationRequest r : List.of(longOne, shortOne)) {
                backend.label = r.id();
                new BatchingEngine(model, EngineOptions.defaults()).generate(List.of(r));
            }
            backend.label = null;
            Set<Long> only = new HashSet<>(backend.used.get(longOne.id()));
            only.removeAll(backend.used.get(shortOne.id()));
            assertFalse(only.isEmpty(), "the long request uses an expert the short one does not");
            long pick = only.stream().sorted().findFirst().orElseThrow();
            return new Fixture(backend, model, longOne, shortOne, new int[] {(int) (pick >>> 32), (int) pick});
        }
    }

    /** Runs steps until {@code until} holds, at most 10 s. */
    private static void stepUntil(BatchingEngine engine, BooleanSupplier until) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!until.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "in time");
            engine.step();
        }
    }

    @ParameterizedTest(name = "micro-batches {0}")
    @ValueSource(ints = {1, 2})
    void sequencesRoutedToAMissingExpertWaitWhileTheOthersGoOnThenAllHaveTheirTokensAlone(int microBatches) {
        Fixture f = Fixture.of();
        GenerationRequest other = greedy("other", prompt(5, 3), 3);
        Map<String, int[]> alone = new HashMap<>();
        for (GenerationRequest r : List.of(f.longOne(), f.shortOne(), other)) {
            alone.put(r.id(), new BatchingEngine(f.model(), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds());
        }

        boolean[] served = {false};
        TestOutage outage = new TestOutage(Duration.ofMinutes(1), () -> served[0]);
        f.backend().outage = outage;
        f.backend().missing = f.missing();
        BatchingEngine engine = new BatchingEngine(f.model(), EngineOptions.defaults().withPrefillChunk(8)
                .withMicroBatches(microBatches));
        Map<String, Generation> done = new HashMap<>();
        Map<String, List<Integer>> streamed = new HashMap<>();
        for (GenerationRequest r : List.of(f.longOne(), f.shortOne())) {
            streamed.put(r.id(), new ArrayList<>());
            engine.submit(r, new TokenListener() {
                @Override
                public void onToken(String id, int token, TokenLogprobs logprobs) {
                    streamed.get(id).add(token);
                }

                @Override
                public void onFinish(Generation g) {
                    done.put(g.id(), g);
                }
            });
        }
        stepUntil(engine, () -> done.containsKey("short") && engine.stats().parked() == 1);
        assertArrayEquals(alone.get("short"), done.get("short").tokenIds(), "the short request went on, exact");
        assertNull(done.get("long"), "the long request waits");
        int before = streamed.get("long").size();
        // a request that arrives meanwhile runs too
        engine.submit(other, g -> done.put(g.id(), g));
        stepUntil(engine, () -> done.containsKey("other"));
        assertArrayEquals(alone.get("other"), done.get("other").tokenIds(), "a later request went on, exact");
        assertEquals(before, streamed.get("long").size(), "no token while set aside");
        assertEquals(1, engine.stats().parked());
        assertEquals("parked 1 0", outage.heard.get(0).substring(0, "parked 1 0".length()), outage.heard.toString());

        f.backend().missing = null;
        served[0] = true;
        stepUntil(engine, () -> done.containsKey("long"));
        assertEquals(FinishReason.LENGTH, done.get("long").finishReason());
        assertArrayEquals(alone.get("long"), done.get("long").tokenIds(), "the long request, once healed, exact");
        assertEquals(toList(alone.get("long")), streamed.get("long"), "each token streamed once, in order");
        assertEquals("healed", outage.heard.get(outage.heard.size() - 1));
        assertEquals(0, engine.stats().parked());
        assertEquals(0, engine.stats().kvBlocksUsed());
    }

    @Test
    void aSetAsideSequenceTriesAgainWhenTheOutageSaysSoAndWaitsAgainWhileTheExpertIsStillMissing() {
        Fixture f = Fixture.of();
        int[] alone = new BatchingEngine(f.model(), EngineOptions.defaults()).generate(List.of(f.longOne())).get(0).tokenIds();
        f.backend().missing = f.missing();
        int[] retries = {0};
        TestOutage outage = new TestOutage(Duration.ofMinutes(1), () -> retries[0]++ < 3);
        f.backend().outage = outage;
        BatchingEngine engine = new BatchingEngine(f.model(), EngineOptions.defaults());
        Map<String, Generation> done = new HashMap<>();
        engine.submit(f.longOne(), g -> done.put(g.id(), g));
        stepUntil(engine, () -> retries[0] > 3);
        assertTrue(outage.heard.contains("parked 0 1 0"), "set aside again after trying in vain: " + outage.heard);
        assertEquals(1, engine.stats().parked());
        f.backend().missing = null;
        retries[0] = 0;
        stepUntil(engine, () -> done.containsKey("long"));
        assertArrayEquals(alone, done.get("long").tokenIds());
        assertEquals(1, outage.heard.stream().filter("healed"::equals).count(), outage.heard.toString());
    }

    @Test
    void pastItsTimeoutASetAsideSequenceEndsWithTheOutagesErrorAndHoldsNoBlock() {
        Fixture f = Fixture.of();
        f.backend().missing = f.missing();
        TestOutage outage = new TestOutage(Duration.ofMillis(300), () -> true);
        f.backend().outage = outage;
        BatchingEngine engine = new BatchingEngine(f.model(), EngineOptions.defaults());
        Map<String, Generation> done = new HashMap<>();
        long started = System.nanoTime();
        engine.submit(f.longOne(), g -> done.put(g.id(), g));
        engine.submit(f.shortOne(), g -> done.put(g.id(), g));
        stepUntil(engine, () -> done.size() == 2);
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertEquals(FinishReason.LENGTH, done.get("short").finishReason());
        Generation failed = done.get("long");
        assertEquals(FinishReason.ERROR, failed.finishReason());
        assertEquals("expert gone; waited 300 ms", failed.error());
        assertTrue(tookMs >= 300, "ended only past the timeout: " + tookMs + " ms");
        assertEquals("gave up", outage.heard.get(outage.heard.size() - 1));
        assertEquals(0, engine.stats().kvBlocksUsed());
        assertEquals(0, engine.stats().parked());
        assertFalse(engine.hasWork());
    }

    @Test
    void withoutAnOutageTheSequencesEndAtOnceWithTheErrorAndTheOthersGoOn() {
        Fixture f = Fixture.of();
        int[] shortAlone = new BatchingEngine(f.model(), EngineOptions.defaults()).generate(List.of(f.shortOne())).get(0)
                .tokenIds();
        f.backend().missing = f.missing();
        f.backend().outage = null;
        List<Generation> both = new BatchingEngine(f.model(), EngineOptions.defaults()).generate(List.of(f.longOne(), f.shortOne()));
        assertEquals(FinishReason.ERROR, both.get(0).finishReason());
        assertTrue(both.get(0).error().matches("layer \\d expert \\d+ is held by no one"), both.get(0).error());
        assertArrayEquals(shortAlone, both.get(1).tokenIds());
        assertEquals(FinishReason.LENGTH, both.get(1).finishReason());
    }

    @Test
    void aCancelEndsASetAsideSequenceAtTheNextStep() {
        Fixture f = Fixture.of();
        f.backend().missing = f.missing();
        f.backend().outage = new TestOutage(Duration.ofMinutes(1), () -> false);
        BatchingEngine engine = new BatchingEngine(f.model(), EngineOptions.defaults());
        Map<String, Generation> done = new HashMap<>();
        engine.submit(f.longOne(), g -> done.put(g.id(), g));
        stepUntil(engine, () -> engine.stats().parked() == 1);
        engine.cancel("long");
        engine.step();
        assertEquals(FinishReason.CANCELLED, done.get("long").finishReason());
        assertEquals(0, engine.stats().kvBlocksUsed());
        assertFalse(engine.hasWork());
    }

    @Test
    void anExpertOfTheDraftModuleMissingCostsDraftsNotTokens() {
        Path mtpDir = TestModels.tinyWithMtp(Preset.TINY_V3);
        ModelConfig c = ModelConfig.load(mtpDir);
        LocalExperts all;
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(mtpDir)) {
            all = LocalExperts.load(new WeightReader(ckpt), c, (layer, expert) -> true);
        }
        int mtpLayer = c.numLayers();
        List<GenerationRequest> requests = List.of(greedy("a", prompt(9, 4), 10), greedy("b", prompt(3, 5), 10));
        ExpertBackend missingInDrafts = batch -> {
            all.run(batch);
            if (batch.layer() == mtpLayer) {
                int[] every = new int[batch.groups()];
                System.arraycopy(batch.expertIds(), 0, every, 0, every.length);
                throw new ExpertsUnservedException("the module's experts are gone", mtpLayer, every,
                        new TestOutage(Duration.ofMinutes(1), () -> true));
            }
        };
        Model plain = Model.load(mtpDir, 0, all);
        Model speculating = Model.load(mtpDir, 0, missingInDrafts, ModelOptions.configured().withMtp(true));
        List<Generation> expected = new BatchingEngine(plain, EngineOptions.defaults()).generate(requests);
        BatchingEngine engine = new BatchingEngine(speculating, EngineOptions.defaults().withSpeculativeTokens(2));
        List<Generation> got = engine.generate(requests);
        for (int i = 0; i < requests.size(); i++) {
            assertArrayEquals(expected.get(i).tokenIds(), got.get(i).tokenIds(), requests.get(i).id());
        }
        assertEquals(0, engine.stats().speculation().drafted(), "no draft while the module misses its experts");
    }

    private static List<Integer> toList(int[] tokens) {
        List<Integer> out = new ArrayList<>();
        for (int t : tokens) out.add(t);
        return out;
    }
}
