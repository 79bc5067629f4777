package dev.moemesh.core.numeric;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Fp8E4m3Test {

    private static float decode(int code) {
        return Fp8E4m3.toFloat((byte) code);
    }

    @Test
    void decodesHandCheckedCodes() {
        assertEquals(0.0f, decode(0x00));
        assertEquals(1.0f, decode(0x38));
        assertEquals(2.0f, decode(0x40));
        assertEquals(448.0f, decode(0x7E));
        assertEquals(-448.0f, decode(0xFE));
        assertEquals(1.75f, decode(0x3E));
        assertEquals(-0.0f, decode(0x80));
    }

    @Test
    void subnormalsAreMantissaEighthsOfTwoToTheMinusSix() {
        assertEquals(0x1p-9f, decode(0x01));
        assertEquals(7 * 0x1p-9f, decode(0x07));
        assertEquals(0x1p-6f, decode(0x08), "smallest normal");
    }

    @Test
    void onlyAllOnesExponentAndMantissaIsNan() {
        assertTrue(Float.isNaN(decode(0x7F)));
        assertTrue(Float.isNaN(decode(0xFF)));
        int nans = 0;
        for (int code = 0; code < 256; code++) {
            if (Float.isNaN(decode(code))) {
                nans++;
            } else {
                assertTrue(Float.isFinite(decode(code)), "no infinities in e4m3fn: " + code);
            }
        }
        assertEquals(2, nans);
    }
}
