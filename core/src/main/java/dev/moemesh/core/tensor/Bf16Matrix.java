package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Bf16;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.util.Arrays;

import static dev.moemesh.core.tensor.Lanes.PANEL_F;
import static dev.moemesh.core.tensor.Lanes.PANEL_I;
import static dev.moemesh.core.tensor.Lanes.PANEL;
import static dev.moemesh.core.tensor.Lanes.panelStart;

/**
 * A bf16 weight matrix packed for the kernel: panels of {@link Lanes#PANEL} output rows (16 where the machine has
 * 512-bit vectors, else 8), and within a panel, for each pair of columns {@code (2i, 2i+1)}, one int per row whose
 * low half holds column 2i and high half column 2i+1. Widening a pair to fp32 is one shift (even column) or one mask
 * (odd column), and each widened vector holds one column of a panel's outputs, so the kernel is an outer product:
 * broadcast {@code x[r][k]}, FMA into the panel's accumulators. A tile's {@link #PANELS} panels take turns pair by
 * pair ({@link Lanes#panelStart}): a thread reads its run of tiles as one stream of memory.
 *
 * <p>Every output element is {@code acc = 0; for k = 0 .. cols-1: acc = fma(W[n][k], x[r][k], acc)}, in that
 * order, whatever tile, batch, thread or JIT tier computes it; {@link #multiplyScalar} is that sentence in code.
 */
public final class Bf16Matrix implements Matrix {
    /** Panels per tile ({@link Lanes#PANELS}). */
    static final int PANELS = Lanes.PANELS;
    static final int TILE_ROWS = 4;
    static final int TILE = PANELS * PANEL;
    /** Activation rows swept over the tiles at a time: a quarter of L2. */
    private static final int X_BLOCK_BYTES = 128 << 10;

    private final int rows;
    private final int cols;
    private final int tiles;    // ceil(rows / (PANELS * PANEL)); rows past `rows` are zero padding
    private final int[] packed; // (tiles, cols / 2, PANELS, PANEL): a tile's panels take turns pair by pair

    private Bf16Matrix(int rows, int cols, int tiles, int[] packed) {
        this.rows = rows;
        this.cols = cols;
        this.tiles = tiles;
        this.packed = packed;
    }

    /** Packs row-major bf16 pairs (int i: element 2i in its low half, 2i+1 in its high half), as a checkpoint stores them. */
    public Bf16Matrix(int rows, int cols, int[] pairs) {
        this(rows, cols, tilesFor(rows), pack(rows, cols, pairs));
    }

    private static int tilesFor(int rows) {
        return (rows + PANELS * PANEL - 1) / (PANELS * PANEL);
    }

    private static int[] pack(int rows, int cols, int[] pairs) {
        if (cols % 2 != 0) throw new IllegalArgumentException("bf16 matrix needs an even column count, got " + cols);
        if (pairs.length != (long) rows * cols / 2) {
            throw new IllegalArgumentException("bf16 matrix (" + rows + ", " + cols + ") needs " + (long) rows * cols / 2
                    + " pairs, got " + pairs.length);
        }
        int half = cols / 2;
        long size = (long) tilesFor(rows) * PANELS * PANEL * half;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bf16 matrix (" + rows + ", " + cols + ") is too large for one array");
        }
        int[] packed = new int[(int) size];
        for (int n = 0; n < rows; n++) {
            int base = panelStart(n / PANEL, 0, half) + n % PANEL;
            for (int i = 0; i < half; i++) packed[base + i * TILE] = pairs[n * half + i];
        }
        return packed;
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

    /** The weights as a checkpoint stores them: row-major bf16 pairs (a copy, for devices that want that layout). */
    public int[] pairs() {
        int half = cols / 2;
        int[] out = new int[rows * half];
        for (int n = 0; n < rows; n++) {
            int base = panelStart(n / PANEL, 0, half) + n % PANEL;
            for (int i = 0; i < half; i++) out[n * half + i] = packed[base + i * TILE];
        }
        return out;
    }

    @Override
    public void multiply(float[] x, int batch, float[] y) {
        Matrix.checkOperands(this, x, batch, y);
        Parallel.forRange(tiles, Math.max(1, Matrix.grain(cols, batch) / (PANELS * PANEL)),
                (from, to) -> multiplyTiles(x, batch, y, from, to));
    }

    /**
     * Output tiles {@code [from, to)} for every row, a block of rows at a time: the block's activations stay in L2
     * while they sweep the tiles, and each tile's weights (24 or 48 rows) in L1/L2 while the block's rows pass four at a
     * time, so neither is fetched from memory more than once per block.
     */
    private void multiplyTiles(float[] x, int batch, float[] y, int from, int to) {
        float[] spill = Scratch.tileOutput();
        int block = Math.max(TILE_ROWS, X_BLOCK_BYTES / (cols * Float.BYTES) / TILE_ROWS * TILE_ROWS);
        for (int r0 = 0; r0 < batch; r0 += block) {
            int end = Math.min(batch, r0 + block);
            for (int t = from; t < to; t++) {
                int r = r0;
                for (; r + TILE_ROWS <= end; r += TILE_ROWS) tile4(x, r, t, y, spill);
                if (r + 2 <= end) {
                    tile2(x, r, t, y, spill);
                    r += 2;
                }
                if (r < end) tile1(x, r, t, y, spill);
            }
        }
    }

    private static FloatVector even(IntVector w) {
        return w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector w) {
        return w.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats();
    }

    /** Rows {@code r .. r+3} against tile {@code t}: each widened weight vector feeds 4 FMAs, each broadcast 3. */
    private void tile4(float[] x, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, cols / 2), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int x0 = r * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(PANEL_F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        int half = cols / 2;
        for (int j = 0; j < half; j++) {
            int k = 2 * j, i = j * TILE;
            FloatVector e0 = even(IntVector.fromArray(PANEL_I, packed, w0 + i));
            FloatVector e1 = even(IntVector.fromArray(PANEL_I, packed, w1 + i));
            FloatVector e2 = even(IntVector.fromArray(PANEL_I, packed, w2 + i));
            FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
            a00 = e0.fma(b, a00);
            a01 = e1.fma(b, a01);
            a02 = e2.fma(b, a02);
            b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
            a10 = e0.fma(b, a10);
            a11 = e1.fma(b, a11);
            a12 = e2.fma(b, a12);
            b = FloatVector.broadcast(PANEL_F, x[x2 + k]);
            a20 = e0.fma(b, a20);
            a21 = e1.fma(b, a21);
            a22 = e2.fma(b, a22);
            b = FloatVector.broadcast(PANEL_F, x[x3 + k]);
            a30 = e0.fma(b, a30);
            a31 = e1.fma(b, a31);
            a32 = e2.fma(b, a32);
            // loaded again rather than kept: 12 accumulators, 3 weights and a broadcast fill the 16 registers
            e0 = odd(IntVector.fromArray(PANEL_I, packed, w0 + i));
            e1 = odd(IntVector.fromArray(PANEL_I, packed, w1 + i));
            e2 = odd(IntVector.fromArray(PANEL_I, packed, w2 + i));
            b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
            a00 = e0.fma(b, a00);
            a01 = e1.fma(b, a01);
            a02 = e2.fma(b, a02);
            b = FloatVector.broadcast(PANEL_F, x[x1 + k + 1]);
            a10 = e0.fma(b, a10);
            a11 = e1.fma(b, a11);
            a12 = e2.fma(b, a12);
            b = FloatVector.broadcast(PANEL_F, x[x2 + k + 1]);
            a20 = e0.fma(b, a20);
            a21 = e1.fma(b, a21);
            a22 = e2.fma(b, a22);
            b = FloatVector.broadcast(PANEL_F, x[x3 + k + 1]);
            a30 = e0.fma(b, a30);
            a31 = e1.fma(b, a31);
            a32 = e2.fma(b, a32);
        }
        // stored here, not in a helper taking vectors: a call C2 does not inline would box every accumulator
        boolean whole = wholeTile(t);
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0, stride = whole ? rows : TILE;
        a00.intoArray(out, o);
        a01.intoArray(out, o + PANEL);
        a02.intoArray(out, o + 2 * PANEL);
        a10.intoArray(out, o + stride);
        a11.intoArray(out, o + stride + PANEL);
        a12.intoArray(out, o + stride + 2 * PANEL);
        a20.intoArray(out, o + 2 * stride);
        a21.intoArray(out, o + 2 * stride + PANEL);
        a22.intoArray(out, o + 2 * stride + 2 * PANEL);
        a30.intoArray(out, o + 3 * stride);
        a31.intoArray(out, o + 3 * stride + PANEL);
        a32.intoArray(out, o + 3 * stride + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, TILE_ROWS, y, rows, r, t);
    }

    /** Two rows against tile {@code t}, for what the 4-row tiles leave. */
    private void tile2(float[] x, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, cols / 2), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int x0 = r * cols, x1 = x0 + cols;
        FloatVector a00 = FloatVector.zero(PANEL_F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        int half = cols / 2;
        for (int j = 0; j < half; j++) {
            int k = 2 * j, i = j * TILE;
            IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + i);
            IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + i);
            IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + i);
            FloatVector e0 = even(v0), e1 = even(v1), e2 = even(v2);
            FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
            a00 = e0.fma(b, a00);
            a01 = e1.fma(b, a01);
            a02 = e2.fma(b, a02);
            b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
            a10 = e0.fma(b, a10);
            a11 = e1.fma(b, a11);
            a12 = e2.fma(b, a12);
            e0 = odd(v0);
            e1 = odd(v1);
            e2 = odd(v2);
            b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
            a00 = e0.fma(b, a00);
            a01 = e1.fma(b, a01);
            a02 = e2.fma(b, a02);
            b = FloatVector.broadcast(PANEL_F, x[x1 + k + 1]);
            a10 = e0.fma(b, a10);
            a11 = e1.fma(b, a11);
            a12 = e2.fma(b, a12);
        }
        boolean whole = wholeTile(t);
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0, stride = whole ? rows : TILE;
        a00.intoArray(out, o);
        a01.intoArray(out, o + PANEL);
        a02.intoArray(out, o + 2 * PANEL);
        a10.intoArray(out, o + stride);
        a11.intoArray(out, o + stride + PANEL);
        a12.intoArray(out, o + stride + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 2, y, rows, r, t);
    }

    /** One row against tile {@code t}: three independent chains, enough while the weights stream from memory. */
    private void tile1(float[] x, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, cols / 2), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int x0 = r * cols;
        FloatVector a0 = FloatVector.zero(PANEL_F), a1 = a0, a2 = a0;
        int half = cols / 2;
        for (int j = 0; j < half; j++) {
            int k = 2 * j, i = j * TILE;
            IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + i);
            IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + i);
            IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + i);
            FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
            a0 = even(v0).fma(b, a0);
            a1 = even(v1).fma(b, a1);
            a2 = even(v2).fma(b, a2);
            b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
            a0 = odd(v0).fma(b, a0);
            a1 = odd(v1).fma(b, a1);
            a2 = odd(v2).fma(b, a2);
        }
        boolean whole = wholeTile(t);
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0;
        a0.intoArray(out, o);
        a1.intoArray(out, o + PANEL);
        a2.intoArray(out, o + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 1, y, rows, r, t);
    }

    /** Whether tile {@code t} has no padding rows, so its outputs go straight into y. */
    private boolean wholeTile(int t) {
        return (t + 1) * TILE <= rows;
    }

    /** The scalar twin of {@link #multiply}: the same operations in the same order, one element at a time. */
    void multiplyScalar(float[] x, int batch, float[] y) {
        Matrix.checkOperands(this, x, batch, y);
        for (int r = 0; r < batch; r++) {
            for (int n = 0; n < rows; n++) {
                float acc = 0f;
                for (int k = 0; k < cols; k++) acc = Math.fma(weight(n, k), x[r * cols + k], acc);
                y[r * rows + n] = acc;
            }
        }
    }

    private float weight(int n, int k) {
        int w = packed[panelStart(n / PANEL, k / 2, cols / 2) + n % PANEL];
        return Float.intBitsToFloat(k % 2 == 0 ? w << 16 : w & 0xFFFF0000);
    }

    @Override
    public void row(int n, float[] out, int offset) {
        for (int k = 0; k < cols; k++) out[offset + k] = weight(n, k);
    }

    @Override
    public Matrix sliceRows(int from, int count) {
        int half = cols / 2;
        int[] all = pairs();
        int[] p = new int[count * half];
        System.arraycopy(all, from * half, p, 0, p.length);
        return new Bf16Matrix(count, cols, p);
    }

    @Override
    public Matrix stack(Matrix below) {
        if (!(below instanceof Bf16Matrix b) || b.cols != cols) return F32Matrix.copyOf(this).stack(below);
        int[] top = pairs(), bottom = b.pairs();
        int[] p = Arrays.copyOf(top, top.length + bottom.length);
        System.arraycopy(bottom, 0, p, top.length, bottom.length);
        return new Bf16Matrix(rows + b.rows, cols, p);
    }

    @Override
    public Matrix transpose() {
        if (rows % 2 != 0) return F32Matrix.copyOf(this).transpose();
        int[] t = new int[rows * cols / 2];
        for (int n = 0; n < rows; n++) {
            for (int k = 0; k < cols; k++) {
                int bits = Float.floatToRawIntBits(weight(n, k)) >>> 16; // exact: the value is already bf16
                int idx = k * (rows / 2) + n / 2;
                t[idx] |= (n % 2 == 0) ? bits : bits << 16;
            }
        }
        return new Bf16Matrix(cols, rows, t);
    }
}
