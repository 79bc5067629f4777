package dev.moemesh.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * The machine's FMA peak as the kernels can reach it: twelve independent chains of fused multiply-adds as wide as
 * the kernels' vectors, held in registers (enough to cover the FMA latency on both pipes), nothing loaded. One operation is one FLOP, so
 * the score in ops/ns is GFLOP/s; run with 1 and with as many threads as cores.
 */
@State(Scope.Thread)
public class FmaPeak {
    /** The matrix kernels' width, by the same rule as core's {@code Lanes.PANEL_F}: 512 bits where the JVM has them. */
    static final VectorSpecies<Float> F = Integer.getInteger("moemesh.vector-bits",
            FloatVector.SPECIES_PREFERRED.vectorBitSize()) >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    static final int ITERATIONS = 1 << 16;
    static final int CHAINS = 12;

    float seed = 0.5f;

    @Benchmark
    @OperationsPerInvocation(ITERATIONS * CHAINS * 8 * 2) // 512-bit vectors run half the iterations
    public float fma() {
        FloatVector m = FloatVector.broadcast(F, 0.999f);
        FloatVector c = FloatVector.broadcast(F, 0.001f);
        FloatVector a0 = FloatVector.broadcast(F, seed), a1 = a0.add(1f), a2 = a0.add(2f), a3 = a0.add(3f);
        FloatVector a4 = a0.add(4f), a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f);
        FloatVector a8 = a0.add(8f), a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
        for (int i = 0, n = ITERATIONS * 8 / F.length(); i < n; i++) {
            a0 = a0.fma(m, c);
            a1 = a1.fma(m, c);
            a2 = a2.fma(m, c);
            a3 = a3.fma(m, c);
            a4 = a4.fma(m, c);
            a5 = a5.fma(m, c);
            a6 = a6.fma(m, c);
            a7 = a7.fma(m, c);
            a8 = a8.fma(m, c);
            a9 = a9.fma(m, c);
            a10 = a10.fma(m, c);
            a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .lane(0);
    }
}
