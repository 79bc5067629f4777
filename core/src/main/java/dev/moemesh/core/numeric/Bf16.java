package dev.moemesh.core.numeric;

/** bfloat16 ⇄ float: the upper half of an IEEE float, rounded to nearest even. */
public final class Bf16 {
    private Bf16() {}

    public static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** Rounds to nearest, ties to even; NaN stays a quiet NaN; values past the largest bf16 round to infinity. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
