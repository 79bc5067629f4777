package dev.moemesh.core.tensor;

/** Per-thread buffers the kernels reuse, so a decode step allocates no activation-sized arrays. */
final class Scratch {
    private static final ThreadLocal<float[]> SPLIT = ThreadLocal.withInitial(() -> new float[0]);

    private Scratch() {}

    /** Each row of x as its even columns then its odd columns, the layout {@link Bf16Matrix} multiplies against. */
    static float[] splitEvenOdd(float[] x, int batch, int cols) {
        float[] out = SPLIT.get();
        if (out.length < batch * cols) {
            out = new float[batch * cols];
            SPLIT.set(out);
        }
        int half = cols / 2;
        for (int r = 0; r < batch; r++) {
            int base = r * cols;
            for (int i = 0; i < half; i++) {
                out[base + i] = x[base + 2 * i];
                out[base + half + i] = x[base + 2 * i + 1];
            }
        }
        return out;
    }
}
