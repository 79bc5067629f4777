package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Bf16;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.util.Arrays;

import static dev.moemesh.core.tensor.Lanes.F;
import static dev.moemesh.core.tensor.Lanes.I;
import static dev.moemesh.core.tensor.Lanes.WIDTH;

/**
 * A bf16 matrix kept as the checkpoint stores it: each int holds two neighbouring elements (low half = even
 * column). Widening bf16 to fp32 is a shift for the even element and a mask for the odd one, so the kernel
 * reads the weights once, at 2 bytes an element, and multiplies against activations split into even and
 * odd columns. Accumulation is fp32 with FMA.
 */
public final class Bf16Matrix implements Matrix {
    private static final int TILE = 4;
    private static final int L2_BLOCK_BYTES = 128 << 10;

    private final int rows;
    private final int cols;
    private final int[] pairs; // (rows, cols / 2)
    private final int blockRows; // weight rows whose bytes fit a share of L2

    public Bf16Matrix(int rows, int cols, int[] pairs) {
        if (cols % 2 != 0) throw new IllegalArgumentException("bf16 matrix needs an even column count, got " + cols);
        if (pairs.length != (long) rows * cols / 2) {
            throw new IllegalArgumentException("bf16 matrix (" + rows + ", " + cols + ") needs " + (long) rows * cols / 2
                    + " pairs, got " + pairs.length);
        }
        this.rows = rows;
        this.cols = cols;
        this.pairs = pairs;
        this.blockRows = Math.max(2, L2_BLOCK_BYTES / (cols * 2) / 2 * 2);
    }

    /** Rounds fp32 values (row-major) to bf16. */
    public static Bf16Matrix fromFloats(int rows, int cols, float[] values) {
        int[] p = new int[values.length / 2];
        for (int i = 0; i < p.length; i++) {
            p[i] = (Bf16.fromFloat(values[2 * i]) & 0xFFFF) | (Bf16.fromFloat(values[2 * i + 1]) << 16);
        }
        return new Bf16Matrix(rows, cols, p);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    /** The packed storage, shared, not copied. */
    public int[] pairs() { return pairs; }

    @Override
    public void multiply(float[] x, int batch, float[] y) {
        Matrix.checkOperands(this, x, batch, y);
        float[] split = Scratch.splitEvenOdd(x, batch, cols);
        Parallel.forRange(rows, Matrix.grain(cols, batch), (from, to) -> {
            float[] lanes = new float[WIDTH];
            for (int block = from; block < to; block += blockRows) {
                multiplyBlock(split, batch, y, block, Math.min(to, block + blockRows), lanes);
            }
        });
    }

    /**
     * Output rows {@code [from, to)}: activation tile outside, weight rows inside. The block's weights stay in L2
     * and each 4-row activation tile in L1 while it sweeps them, so neither is fetched from memory more than once.
     */
    private void multiplyBlock(float[] split, int batch, float[] y, int from, int to, float[] lanes) {
        int pairsEnd = from + (to - from) / 2 * 2;
        int r = 0;
        for (; r + TILE <= batch; r += TILE) {
            for (int n = from; n < pairsEnd; n += 2) dot2x4(n, split, r, y, lanes);
        }
        if (r + 2 <= batch) {
            for (int n = from; n < pairsEnd; n += 2) dot2x2(n, split, r, y, lanes);
            r += 2;
        }
        if (r < batch) {
            for (int n = from; n < pairsEnd; n += 2) dot2x1(n, split, r, y, lanes);
        }
        if (pairsEnd < to) {
            for (int b = 0; b < batch; b++) y[b * rows + pairsEnd] = dot1(pairsEnd, split, b, lanes);
        }
    }

    /*
     * Every kernel below computes an output element the same way: one fp32 accumulator vector, and for each
     * 8 pairs of columns acc = fma(even weights, even x, acc) then acc = fma(odd weights, odd x, acc); then the
     * fixed lane-sum tree and the scalar tail. They differ only in how many weight rows (n) and activation rows
     * (r) share their loads.
     */

    private float dot1(int n, float[] xs, int r, float[] lanes) {
        int half = cols / 2;
        int w0 = n * half;
        int x0 = r * cols;
        int bound = I.loopBound(half);
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            IntVector w = IntVector.fromArray(I, pairs, w0 + i);
            acc = even(w).fma(FloatVector.fromArray(F, xs, x0 + i), acc);
            acc = odd(w).fma(FloatVector.fromArray(F, xs, x0 + half + i), acc);
        }
        return tail(Lanes.sum(acc, lanes), w0, xs, x0, i, half);
    }

    /** Two weight rows against one activation row: two independent chains hide the FMA latency at batch 1. */
    private void dot2x1(int n, float[] xs, int r, float[] y, float[] lanes) {
        int half = cols / 2;
        int wa = n * half, wb = wa + half;
        int x0 = r * cols;
        int bound = I.loopBound(half);
        FloatVector a = FloatVector.zero(F), b = a;
        int i = 0;
        for (; i < bound; i += WIDTH) {
            FloatVector xe = FloatVector.fromArray(F, xs, x0 + i);
            FloatVector xo = FloatVector.fromArray(F, xs, x0 + half + i);
            IntVector va = IntVector.fromArray(I, pairs, wa + i);
            IntVector vb = IntVector.fromArray(I, pairs, wb + i);
            a = even(va).fma(xe, a);
            b = even(vb).fma(xe, b);
            a = odd(va).fma(xo, a);
            b = odd(vb).fma(xo, b);
        }
        y[r * rows + n] = tail(Lanes.sum(a, lanes), wa, xs, x0, i, half);
        y[r * rows + n + 1] = tail(Lanes.sum(b, lanes), wb, xs, x0, i, half);
    }

    /** Two weight rows against two activation rows, for what is left after the 4-row tiles. */
    private void dot2x2(int n, float[] xs, int r, float[] y, float[] lanes) {
        int half = cols / 2;
        int wa = n * half, wb = wa + half;
        int x0 = r * cols, x1 = x0 + cols;
        int bound = I.loopBound(half);
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
        int i = 0;
        for (; i < bound; i += WIDTH) {
            IntVector va = IntVector.fromArray(I, pairs, wa + i);
            IntVector vb = IntVector.fromArray(I, pairs, wb + i);
            FloatVector ae = even(va), be = even(vb);
            FloatVector x = FloatVector.fromArray(F, xs, x0 + i);
            a0 = ae.fma(x, a0);
            b0 = be.fma(x, b0);
            x = FloatVector.fromArray(F, xs, x1 + i);
            a1 = ae.fma(x, a1);
            b1 = be.fma(x, b1);
            FloatVector ao = odd(va), bo = odd(vb);
            x = FloatVector.fromArray(F, xs, x0 + half + i);
            a0 = ao.fma(x, a0);
            b0 = bo.fma(x, b0);
            x = FloatVector.fromArray(F, xs, x1 + half + i);
            a1 = ao.fma(x, a1);
            b1 = bo.fma(x, b1);
        }
        y[r * rows + n] = tail(Lanes.sum(a0, lanes), wa, xs, x0, i, half);
        y[(r + 1) * rows + n] = tail(Lanes.sum(a1, lanes), wa, xs, x1, i, half);
        y[r * rows + n + 1] = tail(Lanes.sum(b0, lanes), wb, xs, x0, i, half);
        y[(r + 1) * rows + n + 1] = tail(Lanes.sum(b1, lanes), wb, xs, x1, i, half);
    }

    /** Two weight rows against four activation rows: each weight load feeds four FMAs, each x load two. */
    private void dot2x4(int n, float[] xs, int r, float[] y, float[] lanes) {
        int half = cols / 2;
        int wa = n * half, wb = wa + half;
        int x0 = r * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int bound = I.loopBound(half);
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int i = 0;
        for (; i < bound; i += WIDTH) {
            IntVector va = IntVector.fromArray(I, pairs, wa + i);
            IntVector vb = IntVector.fromArray(I, pairs, wb + i);
            FloatVector ae = even(va), be = even(vb);
            FloatVector x = FloatVector.fromArray(F, xs, x0 + i);
            a0 = ae.fma(x, a0);
            b0 = be.fma(x, b0);
            x = FloatVector.fromArray(F, xs, x1 + i);
            a1 = ae.fma(x, a1);
            b1 = be.fma(x, b1);
            x = FloatVector.fromArray(F, xs, x2 + i);
            a2 = ae.fma(x, a2);
            b2 = be.fma(x, b2);
            x = FloatVector.fromArray(F, xs, x3 + i);
            a3 = ae.fma(x, a3);
            b3 = be.fma(x, b3);
            FloatVector ao = odd(va), bo = odd(vb);
            x = FloatVector.fromArray(F, xs, x0 + half + i);
            a0 = ao.fma(x, a0);
            b0 = bo.fma(x, b0);
            x = FloatVector.fromArray(F, xs, x1 + half + i);
            a1 = ao.fma(x, a1);
            b1 = bo.fma(x, b1);
            x = FloatVector.fromArray(F, xs, x2 + half + i);
            a2 = ao.fma(x, a2);
            b2 = bo.fma(x, b2);
            x = FloatVector.fromArray(F, xs, x3 + half + i);
            a3 = ao.fma(x, a3);
            b3 = bo.fma(x, b3);
        }
        y[r * rows + n] = tail(Lanes.sum(a0, lanes), wa, xs, x0, i, half);
        y[(r + 1) * rows + n] = tail(Lanes.sum(a1, lanes), wa, xs, x1, i, half);
        y[(r + 2) * rows + n] = tail(Lanes.sum(a2, lanes), wa, xs, x2, i, half);
        y[(r + 3) * rows + n] = tail(Lanes.sum(a3, lanes), wa, xs, x3, i, half);
        y[r * rows + n + 1] = tail(Lanes.sum(b0, lanes), wb, xs, x0, i, half);
        y[(r + 1) * rows + n + 1] = tail(Lanes.sum(b1, lanes), wb, xs, x1, i, half);
        y[(r + 2) * rows + n + 1] = tail(Lanes.sum(b2, lanes), wb, xs, x2, i, half);
        y[(r + 3) * rows + n + 1] = tail(Lanes.sum(b3, lanes), wb, xs, x3, i, half);
    }

    private static FloatVector even(IntVector w) {
        return w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector w) {
        return w.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats();
    }

    /** The scalar twin of the vector loop, for the pairs past the last full vector. */
    private float tail(float sum, int w0, float[] xs, int x0, int from, int half) {
        for (int i = from; i < half; i++) {
            int w = pairs[w0 + i];
            sum = Math.fma(Float.intBitsToFloat(w << 16), xs[x0 + i], sum);
            sum = Math.fma(Float.intBitsToFloat(w & 0xFFFF0000), xs[x0 + half + i], sum);
        }
        return sum;
    }

    @Override
    public void row(int n, float[] out, int offset) {
        int base = n * (cols / 2);
        for (int i = 0; i < cols / 2; i++) {
            int w = pairs[base + i];
            out[offset + 2 * i] = Float.intBitsToFloat(w << 16);
            out[offset + 2 * i + 1] = Float.intBitsToFloat(w & 0xFFFF0000);
        }
    }

    @Override
    public Matrix sliceRows(int from, int count) {
        int half = cols / 2;
        int[] p = new int[count * half];
        System.arraycopy(pairs, from * half, p, 0, p.length);
        return new Bf16Matrix(count, cols, p);
    }

    @Override
    public Matrix stack(Matrix below) {
        if (!(below instanceof Bf16Matrix b) || b.cols != cols) return F32Matrix.copyOf(this).stack(below);
        int[] p = Arrays.copyOf(pairs, pairs.length + b.pairs.length);
        System.arraycopy(b.pairs, 0, p, pairs.length, b.pairs.length);
        return new Bf16Matrix(rows + b.rows, cols, p);
    }

    @Override
    public Matrix transpose() {
        if (rows % 2 != 0) return F32Matrix.copyOf(this).transpose();
        int[] t = new int[pairs.length];
        float[] row = new float[cols];
        for (int n = 0; n < rows; n++) {
            row(n, row, 0);
            for (int k = 0; k < cols; k++) {
                int bits = Float.floatToRawIntBits(row[k]) >>> 16; // exact: the value is already bf16
                int idx = k * (rows / 2) + n / 2;
                t[idx] |= (n % 2 == 0) ? bits : bits << 16;
            }
        }
        return new Bf16Matrix(cols, rows, t);
    }
}
