package dev.moemesh.core.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.numeric.Fp8E4m3;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomCheckpointTest {

    /** V3.1's format: {@code scale_fmt: ue8m0} and block scales that are powers of two; the V3 release's are not. */
    @Test
    void ue8m0CheckpointsHavePowerOfTwoScalesAndSaySo(@TempDir Path tmp) throws IOException {
        Path ue8m0 = tmp.resolve("ue8m0"), v3 = tmp.resolve("v3");
        RandomCheckpoint.writeUe8m0(ue8m0, Preset.TINY_V3, 1, 0);
        RandomCheckpoint.write(v3, Preset.TINY_V3, 1, true);
        assertEquals("ue8m0", new ObjectMapper().readTree(ue8m0.resolve("config.json").toFile())
                .path("quantization_config").path("scale_fmt").asText());
        assertTrue(new ObjectMapper().readTree(v3.resolve("config.json").toFile())
                .path("quantization_config").path("scale_fmt").isMissingNode());
        String name = "model.layers.1.mlp.experts.0.up_proj.weight";
        try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(ue8m0); SafetensorsCheckpoint b = SafetensorsCheckpoint.open(v3)) {
            float[] rounded = a.readFp8Scales(name), original = b.readFp8Scales(name);
            assertEquals(original.length, rounded.length);
            for (int i = 0; i < rounded.length; i++) {
                assertEquals(0, Float.floatToRawIntBits(rounded[i]) & 0x007FFFFF, "scale " + i + " is a power of two");
                assertFalse(Float.floatToRawIntBits(original[i]) << 9 == 0, "the V3 format's scale " + i + " is not");
                assertEquals(Fp8E4m3.ue8m0Scale(original[i]), rounded[i], "the same scale, rounded up");
                assertTrue(rounded[i] >= original[i] && rounded[i] < 2 * original[i]);
            }
        }
    }
}
