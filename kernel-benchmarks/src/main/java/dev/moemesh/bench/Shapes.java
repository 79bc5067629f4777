package dev.moemesh.bench;

import java.util.Map;

/** The weight shapes of the {@code bench} preset (V3-shaped: hidden 1024, 32 experts of 512), by the name a benchmark takes. */
final class Shapes {
    /** (out, in) of each matrix the engine multiplies by. */
    static final Map<String, int[]> MATRICES = Map.of(
            "expert_gate_up", new int[] {1024, 1024},
            "expert_down", new int[] {1024, 512},
            "q_a", new int[] {384, 1024},
            "q_b", new int[] {768, 384},
            "kv_a", new int[] {288, 1024},
            "o_proj", new int[] {1024, 512},
            "dense_gate_up", new int[] {5632, 1024},
            "dense_down", new int[] {1024, 2816},
            "lm_head", new int[] {32000, 1024});

    static final int HIDDEN = 1024;
    static final int EXPERT_INTER = 512;
    static final int EXPERTS = 32;

    private Shapes() {}

    static long matrixFlops(String shape, int rows) {
        int[] s = MATRICES.get(shape);
        return 2L * rows * s[0] * s[1];
    }

    /** A layer's routed experts: gate, up and down of every expert over its rows. */
    static long expertFlops(int rowsPerExpert) {
        return 6L * EXPERTS * rowsPerExpert * HIDDEN * EXPERT_INTER;
    }
}
