package dev.moemesh.bench;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a preset's random checkpoint where {@code mesh make-model} is not installed (a GPU machine given only a JDK
 * and these jars, {@code cuda-experts/bench/gpu-kit.sh}): {@code PRESET DIR [bf16|fp8|ue8m0]}, the last as
 * {@code make-model}'s {@code --fp8} and {@code --fp8 --ue8m0}. A directory that already holds a model is left as it
 * is.
 */
public final class WriteCheckpoint {
    private WriteCheckpoint() {}

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            throw new IllegalArgumentException("usage: WriteCheckpoint PRESET DIR [bf16|fp8|ue8m0]");
        }
        Preset preset = Preset.fromCli(args[0]);
        Path dir = Path.of(args[1]);
        String storage = args.length > 2 ? args[2] : "bf16";
        if (Files.exists(dir.resolve("config.json"))) {
            System.out.println(dir + " already holds a model: left as it is");
            return;
        }
        long start = System.nanoTime();
        switch (storage) {
            case "bf16" -> RandomCheckpoint.write(dir, preset, 1, false);
            case "fp8" -> RandomCheckpoint.write(dir, preset, 1, true);
            case "ue8m0" -> RandomCheckpoint.writeUe8m0(dir, preset, 1, 0);
            default -> throw new IllegalArgumentException("storage '" + storage + "': use bf16, fp8 or ue8m0");
        }
        System.out.printf("wrote %s (%s) to %s in %.1f s%n", preset.cliName(), storage, dir,
                (System.nanoTime() - start) / 1e9);
    }
}
