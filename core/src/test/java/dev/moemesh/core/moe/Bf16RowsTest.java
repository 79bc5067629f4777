package dev.moemesh.core.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moemesh.core.numeric.Bf16;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Bf16RowsTest {

    @Test
    void roundTripGivesEachValueRoundedToBf16() {
        SplittableRandom random = new SplittableRandom(3);
        float[] values = new float[3 * 64];
        for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian() * 10;
        float[] expected = new float[values.length];
        for (int i = 0; i < values.length; i++) expected[i] = Bf16.round(values[i]);

        float[] back = new float[values.length];
        Bf16Rows.unpack(ByteBuffer.wrap(Bf16Rows.pack(values, 0, values.length)), back);

        assertArrayEquals(expected, back);
    }

    @Test
    void bytesAreLittleEndianAndRoundedToNearestEven() {
        // 1 + 2^-8 lies exactly between bf16 1.0 (0x3F80) and the next value up: ties go to the even one
        float tie = Float.intBitsToFloat(0x3F808000);
        byte[] bytes = Bf16Rows.pack(new float[] {9f, tie, -2.5f}, 1, 2);
        assertArrayEquals(new byte[] {(byte) 0x80, 0x3F, 0x20, (byte) 0xC0}, bytes);
    }

    @Test
    void packsOnlyTheAskedRange() {
        float[] values = {1f, 2f, 3f, 4f};
        float[] back = new float[2];
        Bf16Rows.unpack(ByteBuffer.wrap(Bf16Rows.pack(values, 2, 2)), back);
        assertArrayEquals(new float[] {3f, 4f}, back);
        assertEquals(4, Bf16Rows.pack(values, 2, 2).length);
    }

    @Test
    void packsIntoAndUnpacksFromOffsetsAsTheWholeArrayForm() {
        float[] values = {0.1f, -7.3f, 1e-3f, 65504f, -0f};
        byte[] into = new byte[4 + 2 * values.length];
        Bf16Rows.pack(values, 1, 3, into, 4);
        byte[] whole = Bf16Rows.pack(values, 1, 3);
        assertArrayEquals(whole, java.util.Arrays.copyOfRange(into, 4, 10));

        float[] back = {9f, 9f, 9f, 9f, 9f};
        ByteBuffer bytes = ByteBuffer.wrap(into);
        bytes.position(4);
        Bf16Rows.unpack(bytes, back, 1, 3);
        assertArrayEquals(new float[] {9f, Bf16.round(-7.3f), Bf16.round(1e-3f), Bf16.round(65504f), 9f}, back);
        assertEquals(4, bytes.position(), "the caller's position is left alone");
    }
}
