package dev.moemesh.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFingerprintTest {

    @Test
    void sameDirectoryGivesTheSameSixteenHexCharacters(@TempDir Path dir) {
        RandomCheckpoint.write(dir, Preset.TINY_V3, 1, false);
        String first = ModelFingerprint.of(dir);
        assertEquals(first, ModelFingerprint.of(dir));
        assertTrue(first.matches("[0-9a-f]{16}"), first);
    }

    @Test
    void changedConfigChangesTheFingerprint(@TempDir Path dir) throws IOException {
        RandomCheckpoint.write(dir, Preset.TINY_V3, 1, false);
        String before = ModelFingerprint.of(dir);
        Path config = dir.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"routed_scaling_factor\" : 2.5", "\"routed_scaling_factor\" : 2.0"));
        assertNotEquals(before, ModelFingerprint.of(dir));
    }

    @Test
    void differentLayoutChangesTheFingerprint(@TempDir Path v3, @TempDir Path v2) {
        RandomCheckpoint.write(v3, Preset.TINY_V3, 1, false);
        RandomCheckpoint.write(v2, Preset.TINY_V2LITE, 1, false);
        assertNotEquals(ModelFingerprint.of(v3), ModelFingerprint.of(v2));
    }
}
