package dev.moemesh.core.numeric;

/**
 * Decodes FP8 E4M3 in the "e4m3fn" variant DeepSeek-V3 ships: bias 7, no infinities, S.1111.111 is
 * NaN, largest finite value 448.
 */
public final class Fp8E4m3 {

    /** Every one of the 256 codes decoded once, so conversion is a table lookup in the hot loop. */
    private static final float[] DECODED = new float[256];

    static {
        for (int code = 0; code < 256; code++) {
            DECODED[code] = decode(code);
        }
    }

    private Fp8E4m3() {
    }

    public static float toFloat(byte bits) {
        return DECODED[bits & 0xFF];
    }

    private static float decode(int code) {
        int exponent = (code >>> 3) & 0xF;
        int mantissa = code & 0x7;
        if (exponent == 0xF && mantissa == 0x7) {
            return Float.NaN;
        }
        float magnitude = exponent == 0
                ? mantissa / 8f * 0x1p-6f
                : (1 + mantissa / 8f) * Math.scalb(1f, exponent - 7);
        return (code & 0x80) != 0 ? -magnitude : magnitude;
    }

    /**
     * A block scale as DeepSeek's UE8M0 format holds it: {@code 2^ceil(log2(scale))}, the smallest power of two at or
     * above {@code scale}, for positive normal scales.
     */
    public static float ue8m0Scale(float scale) {
        float below = Math.scalb(1f, Math.getExponent(scale));
        return scale == below ? scale : 2 * below;
    }
}
