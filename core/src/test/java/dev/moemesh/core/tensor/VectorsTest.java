package dev.moemesh.core.tensor;

import org.junit.jupiter.api.Test;

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
}
