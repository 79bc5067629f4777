package dev.moemesh.core.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/** The vector shapes the kernels use, and reductions whose order is fixed. */
final class Lanes {
    /** 256-bit everywhere, so lane structure (and thus rounding) is the same on every machine. */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    static final int WIDTH = 8;

    private Lanes() {}

    /** Sum of the 8 lanes as a fixed tree; {@code reduceLanes} leaves the order to the compiler tier. */
    static float sum(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        return ((scratch[0] + scratch[1]) + (scratch[2] + scratch[3]))
                + ((scratch[4] + scratch[5]) + (scratch[6] + scratch[7]));
    }
}
