package dev.moemesh.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The bench preset cut to one dense and one MoE layer and a small vocabulary: its layer shapes, written in seconds. */
final class BenchCheckpoint {
    private BenchCheckpoint() {}

    static Path write(boolean fp8) {
        try {
            Path dir = Files.createTempDirectory("moemesh-kernel-bench");
            ObjectNode config = Preset.BENCH.config().put("num_hidden_layers", 2).put("vocab_size", 1024);
            RandomCheckpoint.write(dir, config, 1, fp8, 512L << 20);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
