package dev.moemesh.core.tensor;

import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static dev.moemesh.core.tensor.Lanes.F;
import static dev.moemesh.core.tensor.Lanes.WIDTH;

/** An fp32 matrix, for checkpoints stored in F32 or F16 and for small weights such as the gate. */
public final class F32Matrix implements Matrix {
    private final int rows;
    private final int cols;
    private final float[] values; // (rows, cols)

    public F32Matrix(int rows, int cols, float[] values) {
        if (values.length != (long) rows * cols) {
            throw new IllegalArgumentException("fp32 matrix (" + rows + ", " + cols + ") needs " + (long) rows * cols
                    + " values, got " + values.length);
        }
        this.rows = rows;
        this.cols = cols;
        this.values = values;
    }

    static F32Matrix copyOf(Matrix m) {
        float[] v = new float[m.rows() * m.cols()];
        for (int n = 0; n < m.rows(); n++) m.row(n, v, n * m.cols());
        return new F32Matrix(m.rows(), m.cols(), v);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    @Override
    public void multiply(float[] x, int batch, float[] y) {
        Matrix.checkOperands(this, x, batch, y);
        Parallel.forRange(rows, Matrix.grain(cols, batch), (from, to) -> {
            float[] lanes = new float[WIDTH];
            for (int n = from; n < to; n++) {
                for (int r = 0; r < batch; r++) y[r * rows + n] = dot(values, n * cols, x, r * cols, cols, lanes);
            }
        });
    }

    /** A fixed-order dot product of {@code len} floats. */
    static float dot(float[] a, int a0, float[] b, int b0, int len, float[] lanes) {
        int bound = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            acc = FloatVector.fromArray(F, a, a0 + i).fma(FloatVector.fromArray(F, b, b0 + i), acc);
        }
        float sum = Lanes.sum(acc, lanes);
        for (; i < len; i++) sum = Math.fma(a[a0 + i], b[b0 + i], sum);
        return sum;
    }

    @Override
    public void row(int n, float[] out, int offset) {
        System.arraycopy(values, n * cols, out, offset, cols);
    }

    @Override
    public F32Matrix sliceRows(int from, int count) {
        float[] v = new float[count * cols];
        System.arraycopy(values, from * cols, v, 0, v.length);
        return new F32Matrix(count, cols, v);
    }

    /** The same values as a {@link Bf16Matrix} (half the bytes, its faster kernel) when each is a bf16 value. */
    Matrix inBf16WhereExact() {
        if (cols % 2 != 0) return this;
        for (float v : values) {
            if ((Float.floatToRawIntBits(v) & 0xFFFF) != 0) return this;
        }
        return Bf16Matrix.fromFloats(rows, cols, values);
    }

    @Override
    public Matrix stack(Matrix below) {
        if (below.cols() != cols) {
            throw new IllegalArgumentException("cannot stack (" + below.rows() + ", " + below.cols() + ") under ("
                    + rows + ", " + cols + ")");
        }
        float[] v = Arrays.copyOf(values, (rows + below.rows()) * cols);
        for (int n = 0; n < below.rows(); n++) below.row(n, v, (rows + n) * cols);
        return new F32Matrix(rows + below.rows(), cols, v);
    }

    @Override
    public F32Matrix transpose() {
        float[] t = new float[values.length];
        for (int n = 0; n < rows; n++) {
            for (int k = 0; k < cols; k++) t[k * rows + n] = values[n * cols + k];
        }
        return new F32Matrix(cols, rows, t);
    }
}
