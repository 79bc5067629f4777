package dev.moemesh.attention.api;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/** Writes a tiny DeepSeek-V3-shaped checkpoint before Quarkus starts and serves it with in-process experts. */
public class TinyModelResource implements QuarkusTestResourceLifecycleManager {
    static final long SEED = 21;

    private Path dir;

    @Override
    public Map<String, String> start() {
        try {
            dir = Files.createTempDirectory("attention-service-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        RandomCheckpoint.write(dir, Preset.TINY_V3, SEED, false);
        // a context of 1024 tokens but a KV pool of 768, so a request can fit the one and not the other
        return Map.of("attention.model-dir", dir.toString(), "attention.max-seq-len", "1024",
                "attention.kv-blocks", "48", "attention.kv-block-tokens", "16");
    }

    @Override
    public void stop() {
        if (dir == null) return;
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
