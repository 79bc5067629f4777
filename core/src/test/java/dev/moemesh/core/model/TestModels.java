package dev.moemesh.core.model;

import dev.moemesh.core.checkpoint.PredictableCheckpoint;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/** Tiny checkpoints written once per test JVM into a temporary directory, shared by the tests that only read them. */
public final class TestModels {
    private static final ConcurrentHashMap<String, Path> WRITTEN = new ConcurrentHashMap<>();

    private TestModels() {}

    public static Path tiny(Preset preset) {
        return tiny(preset, false);
    }

    public static Path tiny(Preset preset, boolean fp8) {
        return written(preset.cliName() + (fp8 ? "-fp8" : ""), dir -> RandomCheckpoint.write(dir, preset, 1, fp8));
    }

    /** {@code preset} in FP8 with power-of-two block scales ({@code scale_fmt: ue8m0}). */
    public static Path tinyUe8m0(Preset preset) {
        return written(preset.cliName() + "-ue8m0", dir -> RandomCheckpoint.writeUe8m0(dir, preset, 1, 0));
    }

    /** {@code preset} with one multi-token-prediction layer, random like the rest. */
    public static Path tinyWithMtp(Preset preset) {
        return written(preset.cliName() + "-mtp", dir -> RandomCheckpoint.write(dir, preset, 1, false, 1));
    }

    /** {@code preset} with one MTP layer, its next token predictable ({@link PredictableCheckpoint}). */
    public static Path predictable(Preset preset, double agreement) {
        return written(preset.cliName() + "-predictable-" + agreement,
                dir -> PredictableCheckpoint.write(dir, preset, 1, agreement));
    }

    private static Path written(String key, java.util.function.Consumer<Path> writer) {
        return WRITTEN.computeIfAbsent(key, k -> {
            try {
                Path dir = Files.createTempDirectory("moemesh-" + k);
                Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
                writer.accept(dir);
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static void delete(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a temp directory left behind costs a few hundred kilobytes
        }
    }
}
