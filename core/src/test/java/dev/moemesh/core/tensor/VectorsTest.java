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
}
