package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Bf16;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class VectorsTest {

    @Test
    void expIsWithinTwoUlpsOfTheExactValueAcrossTheRangeSiluMeets() {
        for (float x = -87f; x <= 88f; x += 0.0137f) {
            double exact = Math.exp(x);
            assertEquals(exact, Vectors.exp(x), 2 * Math.ulp((float) exact), "exp(" + x + ")");
        }
        assertEquals(0f, Vectors.exp(Float.NEGATIVE_INFINITY), 1e-37f);
    }

    /** Rows of an odd width: every element of the vector loop against the scalar tail's formula, bit for bit. */
    @Test
    void siluProductLanesEqualTheScalarFormula() {
        int rows = 3, inter = 37;
        float[] gateUp = new float[rows * 2 * inter];
        SplittableRandom r = new SplittableRandom(9);
        for (int i = 0; i < gateUp.length; i++) gateUp[i] = (float) (r.nextGaussian() * 6);
        gateUp[5] = 200f;
        gateUp[6] = -200f;
        float[] act = new float[rows * inter];
        Vectors.siluProduct(gateUp, rows, inter, act);
        for (int row = 0; row < rows; row++) {
            for (int i = 0; i < inter; i++) {
                float g = gateUp[row * 2 * inter + i];
                float expected = g / (1f + Vectors.exp(-g)) * gateUp[row * 2 * inter + inter + i];
                assertEquals(expected, act[row * inter + i], "row " + row + " element " + i);
                double exact = g / (1 + Math.exp(-g)) * gateUp[row * 2 * inter + inter + i];
                assertEquals(exact, act[row * inter + i], 1e-6 * (1 + Math.abs(exact)));
            }
        }
    }

    /** A vocabulary-sized row at an odd offset and length: the vector max and softmax sum against plain double math. */
    @Test
    void maxAndSumExpAgreeWithDoubleArithmetic() {
        int offset = 3, len = 129_280 + 5;
        float[] x = new float[offset + len];
        SplittableRandom r = new SplittableRandom(4);
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 8);
        x[offset + len - 1] = 60f; // the largest in the scalar tail
        x[0] = 100f;               // outside the slice
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = offset; i < offset + len; i++) max = Math.max(max, x[i]);
        for (int i = offset; i < offset + len; i++) sum += Math.exp(x[i] - max);
        assertEquals((float) max, Vectors.max(x, offset, len));
        assertEquals(sum, Vectors.sumExp(x, offset, len, (float) max), 1e-6 * sum);
    }

    /**
     * The vector rounding to bf16 (as floats, and as the bits a device takes) against {@link Bf16#round} and
     * {@link Bf16#fromFloat}, bit for bit: ties both ways, the largest finite values (which round to infinity),
     * infinities, subnormals, signed zeros, NaNs of any payload, random bits; an odd length and offsets so the scalar
     * tail runs too.
     */
    @Test
    void roundingToBf16AndTheScaledSumMatchTheScalarRoundingBitForBit() {
        float[] special = {0f, -0f, Float.MIN_VALUE, -Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0x7F800001),
                Float.intBitsToFloat(0xFFC00001), Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000),
                Float.intBitsToFloat(0xBF808000), Float.intBitsToFloat(0x3F807FFF), Float.intBitsToFloat(0x7F7F8000),
                1f, -2.5f};
        int offset = 5, len = 1000 + 3;
        float[] x = new float[offset + len];
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(r.nextInt());
        System.arraycopy(special, 0, x, offset, special.length);
        System.arraycopy(special, 0, x, offset + len - special.length, special.length); // the tail too
        float[] rounded = new float[len + 2];
        Vectors.roundBf16(x, offset, rounded, 2, len);
        float[] y = new float[len + 1], expectedY = new float[len + 1];
        for (int i = 0; i < y.length; i++) y[i] = expectedY[i] = (float) r.nextGaussian();
        float alpha = 0.3712f;
        Vectors.addScaledBf16(alpha, x, offset, y, 1, len);
        for (int i = 0; i < len; i++) {
            float expected = Bf16.round(x[offset + i]);
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(rounded[2 + i]),
                    "bf16 of bits " + Integer.toHexString(Float.floatToRawIntBits(x[offset + i])));
            expectedY[1 + i] += alpha * expected;
            assertEquals(Float.floatToRawIntBits(expectedY[1 + i]), Float.floatToRawIntBits(y[1 + i]),
                    "y += a * bf16(x) at " + i);
        }
        assertEquals(Float.floatToRawIntBits(expectedY[0]), Float.floatToRawIntBits(y[0]), "outside the slice");

        short[] bits = new short[len + 4];
        Arrays.fill(bits, (short) 0x5A5A);
        Vectors.toBf16Bits(x, offset, bits, 3, len);
        for (int i = 0; i < len; i++) {
            assertEquals(Bf16.fromFloat(x[offset + i]), bits[3 + i],
                    "bf16 bits of " + Integer.toHexString(Float.floatToRawIntBits(x[offset + i])));
        }
        assertEquals((short) 0x5A5A, bits[2], "before the slice");
        assertEquals((short) 0x5A5A, bits[3 + len], "after the slice");
    }

    /** Four dot products against one bf16 row, each bit for bit the single one; an odd length for the tail. */
    @Test
    void fourDotsOverOneBf16RowEqualTheSingleOnesBitForBit() {
        int len = 77;
        SplittableRandom r = new SplittableRandom(21);
        short[] b = new short[3 + len];
        for (int i = 0; i < b.length; i++) b[i] = Bf16.fromFloat((float) r.nextGaussian());
        float[] a = new float[4 * 100];
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 4);
        int[] offsets = {9, 0, 210, 300, 123, 101, 250, 17}; // [4, 8): a second set, read with from = 4
        float[] four = new float[8];
        Vectors.dotBf16x4(a, offsets, 0, b, 3, len, four, 0);
        Vectors.dotBf16x4(a, offsets, 4, b, 3, len, four, 4);
        for (int j = 0; j < 8; j++) {
            assertEquals(Float.floatToRawIntBits(Vectors.dotBf16(a, offsets[j], b, 3, len)),
                    Float.floatToRawIntBits(four[j]), "dot " + j);
        }
    }

    /**
     * The four weighted sums kept in registers across rows against zeroing and one {@link Vectors#axpyBf16} per row
     * and sum, bit for bit: a width that leaves a partial strip and a scalar tail, rows scattered in the array.
     */
    @Test
    void fourWeightedSumsOfBf16RowsEqualOneAxpyPerRowBitForBit() {
        int len = 16 * 2 + 8 + 3, length = 11;
        SplittableRandom r = new SplittableRandom(33);
        short[] x = new short[length * 100];
        for (int i = 0; i < x.length; i++) x[i] = Bf16.fromFloat((float) r.nextGaussian());
        int[] at = new int[length];
        for (int t = 0; t < length; t++) at[t] = (length - 1 - t) * 100 + t; // not in order, not aligned
        float[] p = new float[4 * length];
        for (int i = 0; i < p.length; i++) p[i] = (float) r.nextDouble();
        int[] outs = {50, 0, 150, 100};
        float[] y = new float[200], expected = new float[200];
        for (int i = 0; i < y.length; i++) y[i] = expected[i] = Float.NaN; // overwritten, not added to
        Vectors.weightedSumBf16x4(p, length, x, at, len, y, outs);
        for (int j = 0; j < 4; j++) Arrays.fill(expected, outs[j], outs[j] + len, 0f);
        for (int t = 0; t < length; t++) {
            for (int j = 0; j < 4; j++) Vectors.axpyBf16(p[j * length + t], x, at[t], expected, outs[j], len);
        }
        for (int i = 0; i < y.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(y[i]), "y[" + i + "]");
        }
    }
}
