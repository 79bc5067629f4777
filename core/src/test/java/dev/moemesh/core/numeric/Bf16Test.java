package dev.moemesh.core.numeric;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Bf16Test {

    private static short fromBits(int floatBits) {
        return Bf16.fromFloat(Float.intBitsToFloat(floatBits));
    }

    @Test
    void toFloatPlacesBitsInTheHighHalf() {
        assertEquals(1.0f, Bf16.toFloat((short) 0x3F80));
        assertEquals(-2.0f, Bf16.toFloat((short) 0xC000));
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.toFloat((short) 0xFF80));
    }

    @Test
    void exactValuesConvertUnchanged() {
        assertEquals((short) 0x3F80, Bf16.fromFloat(1.0f));
        assertEquals((short) 0xC020, Bf16.fromFloat(-2.5f));
        assertEquals((short) 0x0000, Bf16.fromFloat(0.0f));
        assertEquals((short) 0x8000, Bf16.fromFloat(-0.0f));
    }

    @Test
    void tiesRoundToEven() {
        // 1 + 2^-8 lies halfway between 0x3F80 (even) and 0x3F81
        assertEquals((short) 0x3F80, fromBits(0x3F808000));
        // halfway between 0x3F81 and 0x3F82 (even)
        assertEquals((short) 0x3F82, fromBits(0x3F818000));
        assertEquals((short) 0xBF82, fromBits(0xBF818000));
    }

    @Test
    void nonTiesRoundToNearest() {
        assertEquals((short) 0x3F81, fromBits(0x3F808001));
        assertEquals((short) 0x3F80, fromBits(0x3F807FFF));
        assertEquals(1.0f, Bf16.round(1.001f));
    }

    @Test
    void nanStaysQuietNan() {
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.NaN))));
        // a payload only in the low half would become infinity if rounded like a number
        short bits = fromBits(0x7F800001);
        assertTrue(Float.isNaN(Bf16.toFloat(bits)));
        assertEquals(0x0040, bits & 0x0040, "quiet bit set");
        assertTrue(Float.isNaN(Bf16.round(Float.intBitsToFloat(0xFF800001))));
    }

    @Test
    void valuesPastTheLargestBf16RoundToInfinity() {
        assertEquals((short) 0x7F80, Bf16.fromFloat(Float.MAX_VALUE));
        assertEquals((short) 0xFF80, Bf16.fromFloat(-Float.MAX_VALUE));
        assertEquals((short) 0x7F80, Bf16.fromFloat(Float.POSITIVE_INFINITY));
        // the largest finite bfloat16 survives, and so does anything rounding down to it
        assertEquals((short) 0x7F7F, fromBits(0x7F7F0000));
        assertEquals((short) 0x7F7F, fromBits(0x7F7F7FFF));
        assertEquals((short) 0x7F80, fromBits(0x7F7F8000));
    }
}
