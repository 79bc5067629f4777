package dev.moemesh.cuda;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.weights.WeightReader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/** Random-weight checkpoints written once per test JVM into temporary directories. */
final class Checkpoints {
    private static final ConcurrentHashMap<String, Path> WRITTEN = new ConcurrentHashMap<>();

    private Checkpoints() {}

    static Path tinyV3(boolean fp8) {
        return write("tiny-v3" + (fp8 ? "-fp8" : ""), Preset.TINY_V3.config(), fp8, 256L << 10);
    }

    /** The bench preset's shapes (hidden 1024, 32 experts of 512) cut to its dense layer and one MoE layer. */
    static Path benchTwoLayers() {
        ObjectNode config = Preset.BENCH.config().put("num_hidden_layers", 2);
        return write("bench-2-layers", config, false, 512L << 20);
    }

    static SafetensorsCheckpoint open(Path dir) {
        int[] block = ModelConfig.load(dir).fp8BlockSize();
        return block == null ? SafetensorsCheckpoint.open(dir) : SafetensorsCheckpoint.open(dir, block[0], block[1]);
    }

    /**
     * Every routed expert of every MoE layer of {@code config}, the multi-token-prediction layer's included, read from
     * {@code reader}, into {@code pool}.
     */
    static void loadAllExperts(ExpertPool pool, WeightReader reader, ModelConfig config) {
        for (int layer : config.moeLayers()) {
            for (int e = 0; e < config.nRoutedExperts(); e++) pool.add(reader, layer, e);
        }
    }

    private static Path write(String name, ObjectNode config, boolean fp8, long shardBytes) {
        return WRITTEN.computeIfAbsent(name, key -> {
            try {
                Path dir = Files.createTempDirectory("moemesh-cuda-" + key);
                Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
                RandomCheckpoint.write(dir, config, 1, fp8, shardBytes);
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory left behind is harmless
        }
    }
}
