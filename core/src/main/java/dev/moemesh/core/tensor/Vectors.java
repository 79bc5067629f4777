package dev.moemesh.core.tensor;

import jdk.incubator.vector.FloatVector;

import static dev.moemesh.core.tensor.Lanes.F;
import static dev.moemesh.core.tensor.Lanes.WIDTH;

/** Small vector operations on slices of float arrays, each with a fixed operation order. */
public final class Vectors {
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[WIDTH]);

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
}
