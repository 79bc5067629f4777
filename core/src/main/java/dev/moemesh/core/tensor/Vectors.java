package dev.moemesh.core.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.moemesh.core.tensor.Lanes.F;
import static dev.moemesh.core.tensor.Lanes.I;
import static dev.moemesh.core.tensor.Lanes.WIDTH;

/** Small vector operations on slices of float arrays, each with a fixed operation order. */
public final class Vectors {
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[WIDTH]);
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_128;

    private Vectors() {}

    public static float dot(float[] a, int a0, float[] b, int b0, int len) {
        return F32Matrix.dot(a, a0, b, b0, len, LANES.get());
    }

    /** {@code y[y0 + i] += alpha · x[x0 + i]}. */
    public static void axpy(float alpha, float[] x, int x0, float[] y, int y0, int len) {
        int bound = F.loopBound(len);
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            a.fma(FloatVector.fromArray(F, x, x0 + i), FloatVector.fromArray(F, y, y0 + i)).intoArray(y, y0 + i);
        }
        for (; i < len; i++) y[y0 + i] = Math.fma(alpha, x[x0 + i], y[y0 + i]);
    }

    /** {@code a · b} with {@code b} bf16 bits: the same lanes, lane-sum tree and scalar tail as {@link #dot}. */
    public static float dotBf16(float[] a, int a0, short[] b, int b0, int len) {
        int bound = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i < bound; i += WIDTH) acc = widen(b, b0 + i).fma(FloatVector.fromArray(F, a, a0 + i), acc);
        float sum = Lanes.sum(acc, LANES.get());
        for (; i < len; i++) sum = Math.fma(Float.intBitsToFloat(b[b0 + i] << 16), a[a0 + i], sum);
        return sum;
    }

    /** {@code y[y0 + i] += alpha · x[x0 + i]} with {@code x} bf16 bits. */
    public static void axpyBf16(float alpha, short[] x, int x0, float[] y, int y0, int len) {
        int bound = F.loopBound(len);
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            a.fma(widen(x, x0 + i), FloatVector.fromArray(F, y, y0 + i)).intoArray(y, y0 + i);
        }
        for (; i < len; i++) y[y0 + i] = Math.fma(alpha, Float.intBitsToFloat(x[x0 + i] << 16), y[y0 + i]);
    }

    private static FloatVector widen(short[] bits, int at) {
        return ((IntVector) ShortVector.fromArray(S, bits, at).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }
}
