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

    /**
     * The matrix kernels' vectors: 512 bits where the machine has them (AVX-512), else 256. Each output of a
     * matrix product is one lane's own chain of FMAs in column order, so the width changes how many outputs a
     * vector holds, never a result. {@code -Dmoemesh.vector-bits=256} keeps 256 on any machine.
     */
    static final VectorSpecies<Float> PANEL_F = Integer.getInteger("moemesh.vector-bits",
            FloatVector.SPECIES_PREFERRED.vectorBitSize()) >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> PANEL_I = PANEL_F.vectorBitSize() == 512 ? IntVector.SPECIES_512
            : IntVector.SPECIES_256;
    /** Output rows per panel: the lanes of {@link #PANEL_F}. */
    static final int PANEL = PANEL_F.length();
    /**
     * Panels per tile of the packed weight matrices: 3 panels x 4 rows are 12 accumulators, which with 3 weights and
     * 1 broadcast fill AVX2's 16 registers (half of AVX-512's 32).
     */
    static final int PANELS = 3;

    private Lanes() {}

    /**
     * Where column unit {@code u} (an int a row: a bf16 pair, or 4 FP8 codes) of panel {@code p} starts in a packed
     * matrix of {@code units} such ints a row: a tile's {@link #PANELS} panels take turns unit by unit, so a kernel
     * reads a tile, and a thread its run of tiles, as one stream of memory rather than one a panel (one stream instead
     * of three: batch-1 decode 1.21x in bf16 and 1.14x with FP8 kept, docs/benchmarks.md).
     */
    static int panelStart(int p, int u, int units) {
        return ((p / PANELS * units + u) * PANELS + p % PANELS) * PANEL;
    }

    /** Sum of the 8 lanes as a fixed tree; {@code reduceLanes} leaves the order to the compiler tier. */
    static float sum(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        return ((scratch[0] + scratch[1]) + (scratch[2] + scratch[3]))
                + ((scratch[4] + scratch[5]) + (scratch[6] + scratch[7]));
    }
}
