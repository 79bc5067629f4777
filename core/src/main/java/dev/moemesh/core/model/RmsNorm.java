package dev.moemesh.core.model;

import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.tensor.Vectors;

/** Root-mean-square layer norm: {@code x / sqrt(mean(x²) + eps) · weight}, in fp32. */
public record RmsNorm(float[] weight, float eps) { // weight: (dim)
    /** Elements a parallel chunk of rows should hold to be worth handing to another core (a prompt's rows are). */
    private static final int GRAIN = 32_768;

    public int dim() {
        return weight.length;
    }

    /** Normalises {@code rows} rows of {@code x} (row stride = {@code stride}, starting at column 0) into {@code out}. */
    public void apply(float[] x, int rows, int stride, float[] out, int outStride) {
        apply(x, 0, rows, stride, out, 0, outStride);
    }

    /** As above, row {@code r} read from {@code x[from + r · stride ..]} and written to {@code out[outFrom + r · outStride ..]}. */
    public void apply(float[] x, int from, int rows, int stride, float[] out, int outFrom, int outStride) {
        int dim = weight.length;
        Parallel.forRange(rows, Math.max(1, GRAIN / dim), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int xi = from + r * stride;
                int oi = outFrom + r * outStride;
                float meanSquare = Vectors.dot(x, xi, x, xi, dim) / dim;
                float scale = (float) (1.0 / Math.sqrt(meanSquare + eps));
                for (int i = 0; i < dim; i++) out[oi + i] = x[xi + i] * scale * weight[i];
            }
        });
    }

    public void apply(float[] x, int rows, float[] out) {
        apply(x, rows, weight.length, out, weight.length);
    }
}
