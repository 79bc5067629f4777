package dev.moemesh.expert.api;

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

/** Writes a tiny DeepSeek-V3-shaped checkpoint to a temporary directory before Quarkus starts, and points the service at it. */
public class TinyCheckpointResource implements QuarkusTestResourceLifecycleManager {
    static final long SEED = 11;
    /** Layer 1 experts 0-7 and all of layer 2; layer 1 experts 8-15 are in the model but not held. */
    static final String HELD = "1:0-7,2:*";

    private Path dir;

    @Override
    public Map<String, String> start() {
        try {
            dir = Files.createTempDirectory("expert-service-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        RandomCheckpoint.write(dir, Preset.TINY_V3, SEED, false);
        return Map.of("expert.model-dir", dir.toString(), "expert.experts", HELD);
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
