package dev.moemesh.cuda;

import dev.moemesh.core.numeric.Bf16;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The host's side of a batch, on any machine: what reaches pinned staging, and what comes back out of it. */
class HostCopiesTest {

    /**
     * Inputs over several chunks and a ragged last one land as their bf16 bits, little-endian, where BatchLane puts
     * them (a slice after the group table); ties, NaN payloads and overflow round as {@link Bf16#fromFloat} does,
     * and nothing past the batch is written.
     */
    @Test
    void inputsLandAsTheirBf16BitsAfterTheGroupTable() {
        int count = 3 * HostCopies.GRAIN + 123;
        float[] input = new float[count + 5];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < input.length; i++) input[i] = Float.intBitsToFloat(random.nextInt());
        float[] special = {Float.NaN, Float.intBitsToFloat(0x7F800001), Float.intBitsToFloat(0x3F808000),
                Float.intBitsToFloat(0x3F818000), Float.MAX_VALUE, -0f, Float.NEGATIVE_INFINITY};
        System.arraycopy(special, 0, input, HostCopies.GRAIN - 3, special.length);  // across a chunk's edge
        System.arraycopy(special, 0, input, count - special.length, special.length);
        int offset = 256;
        ByteBuffer staging = ByteBuffer.allocateDirect(offset + 2 * count + 64).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < staging.capacity(); i++) staging.put(i, (byte) 0x5A);
        ShortBuffer in = staging.position(offset).slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();

        HostCopies.toBf16(input, count, in);

        for (int i = 0; i < count; i++) {
            assertEquals(Bf16.fromFloat(input[i]), staging.getShort(offset + 2 * i),
                    "value " + i + ", bits " + Integer.toHexString(Float.floatToRawIntBits(input[i])));
        }
        assertEquals((byte) 0x5A, staging.get(offset - 1), "the group table's bytes");
        assertEquals((short) 0x5A5A, staging.getShort(offset + 2 * count), "past the batch");
    }

    @Test
    void outputsComeBackWholeAndNothingPastThem() {
        int count = 2 * HostCopies.GRAIN + 7;
        FloatBuffer results = ByteBuffer.allocateDirect(4 * (count + 16)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < results.capacity(); i++) results.put(i, (float) random.nextGaussian());
        float[] out = new float[count + 3];
        Arrays.fill(out, Float.NaN);

        HostCopies.copy(results, count, out);

        for (int i = 0; i < count; i++) {
            assertEquals(Float.floatToRawIntBits(results.get(i)), Float.floatToRawIntBits(out[i]), "value " + i);
        }
        assertEquals(Float.NaN, out[count], "past the batch");
    }
}
