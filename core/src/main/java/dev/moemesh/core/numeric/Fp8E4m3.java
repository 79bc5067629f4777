package dev.moemesh.core.numeric;

/**
 * FP8 E4M3 as DeepSeek-V3 ships its weights ("e4m3fn"): sign, 4 exponent bits with bias 7, 3 mantissa bits,
 * no infinities, {@code S.1111.111} is NaN, largest finite 448, subnormals {@code m/8 · 2^-6}.
 */
public final class Fp8E4m3 {
    private static final float[] TABLE = new float[256];

    static {
        for (int b = 0; b < 256; b++) TABLE[b] = decode(b);
    }

    private Fp8E4m3() {}

    public static float toFloat(byte bits) {
        return TABLE[bits & 0xFF];
    }

    private static float decode(int b) {
        float sign = (b & 0x80) != 0 ? -1f : 1f;
        int exponent = (b >>> 3) & 0xF;
        int mantissa = b & 0x7;
        if (exponent == 0xF && mantissa == 0x7) return Float.NaN;
        if (exponent == 0) return sign * mantissa / 8f * 0x1p-6f;
        return sign * (1 + mantissa / 8f) * (float) Math.pow(2, exponent - 7);
    }
}
