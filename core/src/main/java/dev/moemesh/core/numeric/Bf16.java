package dev.moemesh.core.numeric;

/** Converts between bfloat16 bit patterns and {@code float}, rounding the way PyTorch does. */
public final class Bf16 {

    /** The quiet NaN PyTorch produces for every NaN input, whatever its sign or payload. */
    private static final short CANONICAL_NAN = (short) 0x7FC0;

    private Bf16() {
    }

    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Rounds to the nearest bfloat16, ties to even; values past the largest finite bfloat16 become
     * infinity, matching {@code c10::detail::round_to_nearest_even}.
     */
    public static short fromFloat(float f) {
        if (Float.isNaN(f)) {
            // without this a NaN whose payload sits only in the low 16 bits would round to infinity
            return CANONICAL_NAN;
        }
        int bits = Float.floatToRawIntBits(f);
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
