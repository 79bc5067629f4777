package dev.moemesh.attention.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.moe.RoutedBatch;

/**
 * Routed batches for stand-ins that echo their rows: experts 0-3 of layer 1 of the tiny V3 model with 3, 1, 2 and 2
 * rows whose values are small integers, exact in bf16, so the output must equal the input row for row.
 */
final class EchoBatches {
    static final ModelConfig CONFIG = ModelConfig.load(TestModels.tiny(Preset.TINY_V3));
    static final int LAYER = 1;
    static final int EXPERTS = 4;

    private EchoBatches() {}

    static RoutedBatch batch() {
        int hidden = CONFIG.hiddenSize();
        int[] starts = {0, 3, 4, 6, 8};
        float[] input = new float[starts[4] * hidden];
        for (int i = 0; i < input.length; i++) input[i] = (i * 7) % 251 - 125;
        return new RoutedBatch(LAYER, hidden, new int[] {0, 1, 2, 3}, starts, new int[starts[4]], input,
                new float[input.length]);
    }

    static void assertAllRowsBack(RoutedBatch batch) {
        assertArrayEquals(batch.input(), batch.output(), "each row back in its place");
    }

    /** Runs a batch, checks every row came back, and says how long it took, in milliseconds. */
    static long runAllRowsBack(RemoteExperts experts) {
        RoutedBatch batch = batch();
        long started = System.nanoTime();
        experts.run(batch);
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertAllRowsBack(batch);
        return tookMs;
    }
}
