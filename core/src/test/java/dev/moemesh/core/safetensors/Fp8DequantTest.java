package dev.moemesh.core.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Fp8DequantTest {

    @TempDir
    Path dir;

    private static final int ROWS = 3;
    private static final int COLS = 130;
    /** Blocks of 2x128 over a 3x130 weight leave partial blocks in both directions: scale shape [2, 2]. */
    private static final float[] SCALES = {0.5f, 3f, 1f / 3, 1e-3f};

    /** A code that varies with row and column but stays clear of the NaN codes. */
    private static byte code(int row, int col) {
        return (byte) ((row * 37 + col) % 0x7E);
    }

    private void writeWeight(long[] scaleShape) {
        CheckpointWriter.write(dir, List.of(
                new CheckpointWriter.TensorSpec("mlp.down_proj.weight", DType.F8_E4M3, new long[]{ROWS, COLS}),
                new CheckpointWriter.TensorSpec("mlp.down_proj.weight_scale_inv", DType.F32, scaleShape)),
                Long.MAX_VALUE, (spec, out) -> {
                    if (spec.dtype() == DType.F8_E4M3) {
                        for (int r = 0; r < ROWS; r++) {
                            for (int c = 0; c < COLS; c++) {
                                out.put(code(r, c));
                            }
                        }
                    } else {
                        for (int i = 0; i < spec.byteLength() / 4; i++) {
                            out.putFloat(i < SCALES.length ? SCALES[i] : 1f);
                        }
                    }
                });
    }

    private static short element(int[] pairs, int row, int col) {
        int i = row * COLS + col;
        return (short) (pairs[i / 2] >>> (16 * (i % 2)));
    }

    @Test
    void eachElementIsScaledByItsBlockAndRoundedToBf16() {
        writeWeight(new long[]{2, 2});
        int[] pairs;
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir, 2, 128)) {
            pairs = checkpoint.readBf16Pairs("mlp.down_proj.weight");
        }
        assertEquals(ROWS * COLS / 2, pairs.length);
        // (0, 56): code 56 = 0x38 = 1.0, block (0, 0), scale 0.5
        assertEquals(Bf16.fromFloat(0.5f), element(pairs, 0, 56));
        // (1, 128): code 165 % 126 = 39 = 0x27 = 1.875 * 2^-3, block (0, 1), scale 3 -> 0.703125 = 0x3F34, exact
        assertEquals((short) 0x3F34, element(pairs, 1, 128));
        // (2, 0): code 74 = 0x4A = 1.25 * 2^2 = 5, block (1, 0), scale 1/3 -> 5/3 rounds to 0x3FD5
        assertEquals((short) 0x3FD5, element(pairs, 2, 0));
        // (2, 129): code 203 % 126 = 77 = 0x4D = 1.625 * 4 = 6.5, block (1, 1), scale 1e-3
        assertEquals(Bf16.fromFloat(6.5f * 1e-3f), element(pairs, 2, 129));
        for (int r = 0; r < ROWS; r++) {
            for (int c = 0; c < COLS; c++) {
                float expected = Fp8E4m3.toFloat(code(r, c)) * SCALES[(r / 2) * 2 + c / 128];
                assertEquals(Bf16.fromFloat(expected), element(pairs, r, c), "element (" + r + ", " + c + ")");
            }
        }
    }

    @Test
    void readFloatsLeavesScalesUnapplied() {
        writeWeight(new long[]{2, 2});
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir, 2, 128)) {
            float[] raw = checkpoint.readFloats("mlp.down_proj.weight");
            assertEquals(5f, raw[2 * COLS]);
            assertArrayEquals(SCALES, checkpoint.readFloats("mlp.down_proj.weight_scale_inv"));
        }
    }

    @Test
    void weightWithoutScaleConvertsPlainly() {
        CheckpointWriter.write(dir, List.of(new CheckpointWriter.TensorSpec("w", DType.F8_E4M3, new long[]{4})),
                Long.MAX_VALUE, (spec, out) -> out.put((byte) 0x38).put((byte) 0x7E).put((byte) 0xFE).put((byte) 0x01));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            // 1.0 = 0x3F80, 448 = 0x43E0, -448 = 0xC3E0, 2^-9 = 0x3B00
            assertArrayEquals(new int[]{0x43E03F80, 0x3B00C3E0}, checkpoint.readBf16Pairs("w"));
        }
    }

    @Test
    void scaleOfTheWrongShapeNamesBothTensors() {
        writeWeight(new long[]{1, 2});
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir, 2, 128)) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> checkpoint.readBf16Pairs("mlp.down_proj.weight"));
            assertTrue(e.getMessage().contains("'mlp.down_proj.weight_scale_inv'"), e.getMessage());
            assertTrue(e.getMessage().contains("'mlp.down_proj.weight'"), e.getMessage());
            assertTrue(e.getMessage().contains("needs [2, 2]"), e.getMessage());
            assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
        }
    }

    @Test
    void defaultBlocksAre128By128() {
        writeWeight(new long[]{1, 2});
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            int[] pairs = checkpoint.readBf16Pairs("mlp.down_proj.weight");
            // (2, 0) is in block (0, 0) now: scale 0.5
            assertEquals(Bf16.fromFloat(2.5f), element(pairs, 2, 0));
        }
    }
}
