package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Fp8E4m3;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.util.Arrays;

import static dev.moemesh.core.tensor.Lanes.PANEL_F;
import static dev.moemesh.core.tensor.Lanes.PANEL_I;
import static dev.moemesh.core.tensor.Lanes.PANEL;
import static dev.moemesh.core.tensor.Lanes.panelStart;
import static jdk.incubator.vector.VectorOperators.AND;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.LSHL;

/**
 * An FP8 E4M3 weight matrix with block scales, kept at one byte a weight and dequantised inside the kernel in fp32:
 * weight (n, k) is {@code fp32(e4m3(n, k) · scale(n / blockRows, k / blockCols))}, exactly what dequantising the
 * whole tensor to fp32 would give.
 *
 * <p>Packed in panels of output rows like {@link Bf16Matrix} (8 or 16, {@link Lanes#PANEL}): for each 4 columns, one int
 * per row, int j holding row j's 4 codes (column 4q + s in byte s), so one vector load brings 4 weights of every
 * row of the panel and a code reaches its fp32 bits with two shifts and a mask, no byte-to-int conversion. A tile's
 * {@link #PANELS} panels take turns 4 columns at a time ({@link Lanes#panelStart}): a thread reads its run of tiles
 * as one stream of memory. Up to {@link #IN_REGISTERS_ROWS} rows the kernel dequantises in registers, once for four
 * or three rows (two at 256 bits); for more it dequantises one tile's weights for up to {@link #K_BLOCK} columns
 * into an L1-sized fp32 buffer that every activation row then runs over, so the dequantisation costs once per
 * product, not once per row. Each output is {@code acc = 0; for k: acc = fma(W[n][k], x[r][k], acc)} in column
 * order; partial sums wait in fp32 between column blocks, which keeps that order exactly ({@link #multiplyScalar} is
 * the twin). Tiles whose block scales are powers of two fold them into the activations for up to {@link
 * #IN_REGISTERS_ROWS} rows ({@link #foldable}, the kernels' {@code folded}): the same results, one multiply fewer a
 * weight.
 */
public final class Fp8Matrix implements Matrix {
    static final int PANELS = Bf16Matrix.PANELS;
    static final int TILE = PANELS * PANEL;
    /**
     * Up to this many rows, weights dequantise in registers, once for four rows with 512-bit vectors ({@link
     * #rowsInRegisters4}; three when three are left, {@link #rowsInRegisters3}), else for two ({@link
     * #rowsInRegisters2}); more share an fp32 buffer. JMH, expert gate+up from memory, 2 threads: in registers 1.9x
     * the buffer at 4 rows, 1.4x at 8, 1.17x at 12, 1.04x at 16 at 512 bits; by pairs at 256 bits 1.3x at 4 and 1.13x
     * at 8.
     */
    static final int IN_REGISTERS_ROWS = 16;
    /** Columns dequantised at a time: 128 columns of a tile are 12 KiB of fp32 (24 rows) or 24 KiB (48). */
    static final int K_BLOCK = 128;
    /** The E4M3 bits placed into an fp32 exponent and mantissa read as the value times 2^-120; scales carry the 2^120. */
    private static final float UNBIAS = 0x1p120f;
    private static final int FP32_BITS_MASK = 0x87F00000;

    private final int rows;
    private final int cols;
    private final int tiles;
    private final int scaleCols;       // ceil(cols / blockCols)
    private final int blockCols;
    private final int quads;           // ceil(cols / 4)
    private final int[] packed;        // (tiles * PANELS, quads, PANEL): 4 codes an int
    private final float[] panelScales; // (tiles * PANELS, scaleCols, PANEL): each row's block scale times 2^120
    /** (tiles, scaleCols): the carried scale all the tile's rows share in that column block, NaN if none can fold. */
    private final float[] tileScales;
    private final boolean[] tileFolds; // every column block of the tile has a scale to fold
    private final int foldingTiles;

    private Fp8Matrix(int rows, int cols, int blockCols, int[] packed, float[] panelScales) {
        this.rows = rows;
        this.cols = cols;
        this.quads = (cols + 3) / 4;
        this.tiles = (rows + TILE - 1) / TILE;
        this.blockCols = blockCols;
        this.scaleCols = (cols + blockCols - 1) / blockCols;
        this.packed = packed;
        this.panelScales = panelScales;
        this.tileScales = new float[tiles * scaleCols];
        this.tileFolds = new boolean[tiles];
        int folding = 0;
        for (int t = 0; t < tiles; t++) {
            boolean all = true;
            for (int c = 0; c < scaleCols; c++) {
                float shared = panelScales[((t * TILE / PANEL) * scaleCols + c) * PANEL];
                for (int n = t * TILE + 1; n < Math.min(rows, (t + 1) * TILE); n++) {
                    if (panelScales[((n / PANEL) * scaleCols + c) * PANEL + n % PANEL] != shared) shared = Float.NaN;
                }
                tileScales[t * scaleCols + c] = foldable(shared) ? shared : Float.NaN;
                all &= foldable(shared);
            }
            tileFolds[t] = all;
            if (all) folding++;
        }
        this.foldingTiles = folding;
    }

    /**
     * Whether a carried scale {@code S = 2^E} (the block scale times 2^120) can move from the weight to the
     * activation bit for bit: the weight {@code F · S} is exact (F, an E4M3 value times 2^-120, has 4 significant
     * bits no finer than 2^-129, so E >= -20 keeps the product above fp32's 2^-149 grain), and then
     * {@code fma(F, x · S, acc) == fma(F · S, x, acc)} whenever {@code x · S} is exact too, which {@link #fold}
     * checks for every activation. DeepSeek-V3.1's checkpoints ({@code scale_fmt: ue8m0}) have only such scales.
     */
    static boolean foldable(float carried) {
        int bits = Float.floatToRawIntBits(carried);
        int field = bits >>> 23;
        return bits > 0 && (bits & 0x007FFFFF) == 0 && field < 0xFF && field - 127 >= -20;
    }

    /** Tiles whose in-register products fold the block scales into the activations (for tests). */
    int foldingTiles() {
        return foldingTiles;
    }

    /**
     * Packs row-major E4M3 codes with their (ceil(rows / blockRows), ceil(cols / blockCols)) scales, as DeepSeek-V3's
     * release stores {@code weight} and {@code weight_scale_inv} (any block shape: each row of a panel carries its own
     * block's scale).
     *
     * @param name the tensor, for errors
     */
    public static Fp8Matrix of(String name, int rows, int cols, byte[] codes, float[] blockScales, int blockRows,
                               int blockCols) {
        if (codes.length != (long) rows * cols) {
            throw new IllegalArgumentException(name + ": FP8 matrix (" + rows + ", " + cols + ") needs "
                    + (long) rows * cols + " bytes, got " + codes.length);
        }
        int scaleCols = (cols + blockCols - 1) / blockCols;
        int tiles = (rows + TILE - 1) / TILE;
        int quads = (cols + 3) / 4;
        if ((long) tiles * TILE * quads > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(name + ": FP8 matrix (" + rows + ", " + cols + ") is too large for one array");
        }
        int[] packed = new int[tiles * TILE * quads];
        float[] scales = new float[tiles * TILE * scaleCols];
        for (int n = 0; n < rows; n++) {
            int panel = n / PANEL;
            for (int k = 0; k < cols; k++) {
                byte code = codes[n * cols + k];
                if ((code & 0x7F) == 0x7F) {
                    throw new IllegalArgumentException(name + ": element (" + n + ", " + k + ") is an E4M3 NaN; the"
                            + " checkpoint is damaged");
                }
                packed[panelStart(panel, k / 4, quads) + n % PANEL] |= (code & 0xFF) << (8 * (k % 4));
            }
        }
        for (int n = 0; n < rows; n++) {
            for (int c = 0; c < scaleCols; c++) {
                float s = blockScales[(n / blockRows) * scaleCols + c];
                float carried = s * UNBIAS;
                if (!Float.isFinite(carried) || !(s >= 0)) {
                    throw new IllegalArgumentException(name + ": block scale " + s + " at block (" + n / blockRows
                            + ", " + c + ") is not a finite non-negative number below 2^8");
                }
                scales[((n / PANEL) * scaleCols + c) * PANEL + n % PANEL] = carried;
            }
        }
        return new Fp8Matrix(rows, cols, blockCols, packed, scales);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    @Override
    public void multiply(float[] x, int batch, float[] y) {
        Matrix.checkOperands(this, x, batch, y);
        boolean inRegisters = batch <= IN_REGISTERS_ROWS && cols % 4 == 0 && blockCols % 4 == 0;
        Parallel.forRange(tiles, Math.max(1, Matrix.grain(cols, batch) / TILE), (from, to) -> {
            if (inRegisters) {
                float[] spill = Scratch.tileOutput();
                float[] folded = foldingTiles > 0 ? Scratch.foldedRows(batch * cols) : null;
                int foldedFor = -1, exactRows = 0; // bit r: row r's fold for tile foldedFor's scales is exact
                for (int t = from; t < to; t++) {
                    if (tileFolds[t] && (foldedFor < 0 || !Arrays.equals(tileScales, foldedFor * scaleCols,
                            (foldedFor + 1) * scaleCols, tileScales, t * scaleCols, (t + 1) * scaleCols))) {
                        exactRows = 0;
                        for (int r = 0; r < batch; r++) if (fold(x, r, t, folded)) exactRows |= 1 << r;
                        foldedFor = t;
                    }
                    int folds = tileFolds[t] ? exactRows : 0; // bit r: row r takes the folded kernels here
                    int r = 0;
                    for (; PANEL == 16 && r + 4 <= batch; r += 4) {
                        boolean f = (folds >>> r & 15) == 15;
                        rowsInRegisters4(f ? folded : x, f, r, t, y, spill);
                    }
                    if (PANEL == 16 && batch - r == 3) {
                        boolean f = (folds >>> r & 7) == 7;
                        rowsInRegisters3(f ? folded : x, f, r, t, y, spill);
                        r += 3;
                    }
                    for (; r + 2 <= batch; r += 2) {
                        boolean f = (folds >>> r & 3) == 3;
                        rowsInRegisters2(f ? folded : x, f, r, t, y, spill);
                    }
                    if (r < batch) {
                        boolean f = (folds >>> r & 1) != 0;
                        rowInRegisters(f ? folded : x, f, r, t, y, spill);
                    }
                }
                return;
            }
            float[] weights = Scratch.fp8Weights();
            float[] acc = Scratch.fp8Sums(batch * TILE);
            for (int t = from; t < to; t++) multiplyTile(x, batch, y, t, weights, acc);
        });
    }

    /**
     * One row against tile {@code t}, each weight dequantised in a register just before its FMA: the fp32 buffer's
     * stores and loads cost more than that for few rows (expert_gate_up at one row: 2.9x the buffered kernel's
     * throughput). The same operations as the buffer's (code to fp32 bits, times the row's scale, then the FMA), so
     * the same results bit for bit. The chains are written out: a helper taking the {@code IntVector} is not inlined
     * once two vector shapes are loaded, and boxes every vector. With {@code folded}, {@code x} holds the activations
     * {@link #fold} multiplied by the tile's power-of-two scales and the code's fp32 bits go straight into the FMA,
     * one multiply fewer a weight, the same results bit for bit; C2 compiles the loop once for each value of the
     * flag (JMH, one row from cache and from memory: the same throughput as two written-out kernels, the fold's
     * 13 % from cache kept).
     */
    private void rowInRegisters(float[] x, boolean folded, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, quads), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int s0 = t * PANELS * scaleCols * PANEL, s1 = s0 + scaleCols * PANEL, s2 = s1 + scaleCols * PANEL;
        int x0 = r * cols;
        int blocks = folded ? 1 : scaleCols, width = folded ? cols : blockCols;
        FloatVector a0 = FloatVector.zero(PANEL_F), a1 = a0, a2 = a0;
        for (int c = 0; c < blocks; c++) {
            FloatVector c0 = FloatVector.fromArray(PANEL_F, panelScales, s0 + c * PANEL);
            FloatVector c1 = FloatVector.fromArray(PANEL_F, panelScales, s1 + c * PANEL);
            FloatVector c2 = FloatVector.fromArray(PANEL_F, panelScales, s2 + c * PANEL);
            int end = Math.min(cols, (c + 1) * width);
            for (int k = c * width; k < end; k += 4) {
                int q = (k >> 2) * TILE;
                IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + q);
                IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + q);
                IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + q);
                FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
                FloatVector e0 = v0.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e1 = v1.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e2 = v2.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
                e0 = v0.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 2]);
                e0 = v0.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 3]);
                e0 = v0.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
            }
        }
        boolean whole = (t + 1) * TILE <= rows;
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0;
        a0.intoArray(out, o);
        a1.intoArray(out, o + PANEL);
        a2.intoArray(out, o + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 1, y, rows, r, t);
    }

    /**
     * Row {@code r} of x times tile {@code t}'s scale of each column block, into the same place of {@code folded};
     * true when every product is exact ({@link #foldable}): multiplying back by the inverse power of two gives x
     * again exactly when nothing overflowed or lost bits below fp32's smallest subnormal.
     */
    private boolean fold(float[] x, int r, int t, float[] folded) {
        boolean exact = true;
        for (int c = 0; c < scaleCols; c++) {
            float scale = tileScales[t * scaleCols + c];
            float inverse = 1f / scale; // a power of two as well: exact
            FloatVector s = FloatVector.broadcast(PANEL_F, scale), back = FloatVector.broadcast(PANEL_F, inverse);
            int k = r * cols + c * blockCols, end = r * cols + Math.min(cols, (c + 1) * blockCols);
            for (; k + PANEL <= end; k += PANEL) {
                FloatVector v = FloatVector.fromArray(PANEL_F, x, k);
                FloatVector f = v.mul(s);
                f.intoArray(folded, k);
                exact &= f.mul(back).eq(v).allTrue();
            }
            for (; k < end; k++) {
                folded[k] = x[k] * scale;
                exact &= folded[k] * inverse == x[k];
            }
        }
        return exact;
    }

    /**
     * Rows {@code r} and {@code r + 1} against tile {@code t}, each weight dequantised once in a register for both:
     * {@link #rowInRegisters}'s operations, the decoding shared.
     */
    private void rowsInRegisters2(float[] x, boolean folded, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, quads), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int s0 = t * PANELS * scaleCols * PANEL, s1 = s0 + scaleCols * PANEL, s2 = s1 + scaleCols * PANEL;
        int x0 = r * cols, x1 = x0 + cols;
        int blocks = folded ? 1 : scaleCols, width = folded ? cols : blockCols;
        FloatVector a0 = FloatVector.zero(PANEL_F), a1 = a0, a2 = a0, d0 = a0, d1 = a0, d2 = a0;
        for (int c = 0; c < blocks; c++) {
            FloatVector c0 = FloatVector.fromArray(PANEL_F, panelScales, s0 + c * PANEL);
            FloatVector c1 = FloatVector.fromArray(PANEL_F, panelScales, s1 + c * PANEL);
            FloatVector c2 = FloatVector.fromArray(PANEL_F, panelScales, s2 + c * PANEL);
            int end = Math.min(cols, (c + 1) * width);
            for (int k = c * width; k < end; k += 4) {
                int q = (k >> 2) * TILE;
                IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + q);
                IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + q);
                IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + q);
                FloatVector e0 = v0.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e1 = v1.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e2 = v2.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                e0 = v0.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 1]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                e0 = v0.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 2]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 2]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                e0 = v0.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 3]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 3]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
            }
        }
        boolean whole = (t + 1) * TILE <= rows;
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0, stride = whole ? rows : TILE;
        a0.intoArray(out, o);
        a1.intoArray(out, o + PANEL);
        a2.intoArray(out, o + 2 * PANEL);
        d0.intoArray(out, o + stride);
        d1.intoArray(out, o + stride + PANEL);
        d2.intoArray(out, o + stride + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 2, y, rows, r, t);
    }

    /**
     * Rows {@code r .. r+3} against tile {@code t}, each weight dequantised once for the four (512-bit vectors only:
     * 12 accumulators, 3 scales, 3 codes and 3 weights need more than AVX2's 16 registers).
     */
    private void rowsInRegisters4(float[] x, boolean folded, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, quads), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int s0 = t * PANELS * scaleCols * PANEL, s1 = s0 + scaleCols * PANEL, s2 = s1 + scaleCols * PANEL;
        int x0 = r * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int blocks = folded ? 1 : scaleCols, width = folded ? cols : blockCols;
        FloatVector a0 = FloatVector.zero(PANEL_F), a1 = a0, a2 = a0, d0 = a0, d1 = a0, d2 = a0;
        FloatVector g0 = a0, g1 = a0, g2 = a0, h0 = a0, h1 = a0, h2 = a0;
        for (int c = 0; c < blocks; c++) {
            FloatVector c0 = FloatVector.fromArray(PANEL_F, panelScales, s0 + c * PANEL);
            FloatVector c1 = FloatVector.fromArray(PANEL_F, panelScales, s1 + c * PANEL);
            FloatVector c2 = FloatVector.fromArray(PANEL_F, panelScales, s2 + c * PANEL);
            int end = Math.min(cols, (c + 1) * width);
            for (int k = c * width; k < end; k += 4) {
                int q = (k >> 2) * TILE;
                IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + q);
                IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + q);
                IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + q);
                FloatVector e0 = v0.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e1 = v1.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e2 = v2.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                b = FloatVector.broadcast(PANEL_F, x[x3 + k]);
                h0 = e0.fma(b, h0);
                h1 = e1.fma(b, h1);
                h2 = e2.fma(b, h2);
                e0 = v0.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 1]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 1]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                b = FloatVector.broadcast(PANEL_F, x[x3 + k + 1]);
                h0 = e0.fma(b, h0);
                h1 = e1.fma(b, h1);
                h2 = e2.fma(b, h2);
                e0 = v0.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 2]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 2]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 2]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                b = FloatVector.broadcast(PANEL_F, x[x3 + k + 2]);
                h0 = e0.fma(b, h0);
                h1 = e1.fma(b, h1);
                h2 = e2.fma(b, h2);
                e0 = v0.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 3]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 3]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 3]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                b = FloatVector.broadcast(PANEL_F, x[x3 + k + 3]);
                h0 = e0.fma(b, h0);
                h1 = e1.fma(b, h1);
                h2 = e2.fma(b, h2);
            }
        }
        boolean whole = (t + 1) * TILE <= rows;
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0, stride = whole ? rows : TILE;
        a0.intoArray(out, o);
        a1.intoArray(out, o + PANEL);
        a2.intoArray(out, o + 2 * PANEL);
        d0.intoArray(out, o + stride);
        d1.intoArray(out, o + stride + PANEL);
        d2.intoArray(out, o + stride + 2 * PANEL);
        g0.intoArray(out, o + 2 * stride);
        g1.intoArray(out, o + 2 * stride + PANEL);
        g2.intoArray(out, o + 2 * stride + 2 * PANEL);
        h0.intoArray(out, o + 3 * stride);
        h1.intoArray(out, o + 3 * stride + PANEL);
        h2.intoArray(out, o + 3 * stride + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 4, y, rows, r, t);
    }

    /** Rows {@code r .. r+2} against tile {@code t}, each weight dequantised once for the three (512-bit vectors). */
    private void rowsInRegisters3(float[] x, boolean folded, int r, int t, float[] y, float[] spill) {
        int w0 = panelStart(t * PANELS, 0, quads), w1 = w0 + PANEL, w2 = w1 + PANEL;
        int s0 = t * PANELS * scaleCols * PANEL, s1 = s0 + scaleCols * PANEL, s2 = s1 + scaleCols * PANEL;
        int x0 = r * cols, x1 = x0 + cols, x2 = x1 + cols;
        int blocks = folded ? 1 : scaleCols, width = folded ? cols : blockCols;
        FloatVector a0 = FloatVector.zero(PANEL_F), a1 = a0, a2 = a0, d0 = a0, d1 = a0, d2 = a0;
        FloatVector g0 = a0, g1 = a0, g2 = a0;
        for (int c = 0; c < blocks; c++) {
            FloatVector c0 = FloatVector.fromArray(PANEL_F, panelScales, s0 + c * PANEL);
            FloatVector c1 = FloatVector.fromArray(PANEL_F, panelScales, s1 + c * PANEL);
            FloatVector c2 = FloatVector.fromArray(PANEL_F, panelScales, s2 + c * PANEL);
            int end = Math.min(cols, (c + 1) * width);
            for (int k = c * width; k < end; k += 4) {
                int q = (k >> 2) * TILE;
                IntVector v0 = IntVector.fromArray(PANEL_I, packed, w0 + q);
                IntVector v1 = IntVector.fromArray(PANEL_I, packed, w1 + q);
                IntVector v2 = IntVector.fromArray(PANEL_I, packed, w2 + q);
                FloatVector e0 = v0.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e1 = v1.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                FloatVector e2 = v2.lanewise(LSHL, 24).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                e0 = v0.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 16).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 1]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 1]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 1]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                e0 = v0.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(LSHL, 8).lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 2]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 2]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 2]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
                e0 = v0.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e1 = v1.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                e2 = v2.lanewise(ASHR, 4).lanewise(AND, FP32_BITS_MASK).reinterpretAsFloats();
                if (!folded) {
                    e0 = e0.mul(c0);
                    e1 = e1.mul(c1);
                    e2 = e2.mul(c2);
                }
                b = FloatVector.broadcast(PANEL_F, x[x0 + k + 3]);
                a0 = e0.fma(b, a0);
                a1 = e1.fma(b, a1);
                a2 = e2.fma(b, a2);
                b = FloatVector.broadcast(PANEL_F, x[x1 + k + 3]);
                d0 = e0.fma(b, d0);
                d1 = e1.fma(b, d1);
                d2 = e2.fma(b, d2);
                b = FloatVector.broadcast(PANEL_F, x[x2 + k + 3]);
                g0 = e0.fma(b, g0);
                g1 = e1.fma(b, g1);
                g2 = e2.fma(b, g2);
            }
        }
        boolean whole = (t + 1) * TILE <= rows;
        float[] out = whole ? y : spill;
        int o = whole ? r * rows + t * TILE : 0, stride = whole ? rows : TILE;
        a0.intoArray(out, o);
        a1.intoArray(out, o + PANEL);
        a2.intoArray(out, o + 2 * PANEL);
        d0.intoArray(out, o + stride);
        d1.intoArray(out, o + stride + PANEL);
        d2.intoArray(out, o + stride + 2 * PANEL);
        g0.intoArray(out, o + 2 * stride);
        g1.intoArray(out, o + 2 * stride + PANEL);
        g2.intoArray(out, o + 2 * stride + 2 * PANEL);
        if (!whole) Scratch.unspill(spill, 3, y, rows, r, t);
    }

    private void multiplyTile(float[] x, int batch, float[] y, int t, float[] weights, float[] acc) {
        Arrays.fill(acc, 0, batch * TILE, 0f);
        for (int k0 = 0; k0 < cols; k0 += K_BLOCK) {
            int kLen = Math.min(K_BLOCK, cols - k0);
            dequantise(t, k0, kLen, weights);
            int r = 0;
            for (; r + Bf16Matrix.TILE_ROWS <= batch; r += Bf16Matrix.TILE_ROWS) rows4(x, r, k0, kLen, weights, acc);
            for (; r < batch; r++) rows1(x, r, k0, kLen, weights, acc);
        }
        int n = t * TILE;
        int count = Math.min(TILE, rows - n);
        for (int r = 0; r < batch; r++) System.arraycopy(acc, r * TILE, y, r * rows + n, count);
    }

    /**
     * Tile {@code t}'s columns {@code [k0, k0 + kLen)} as fp32, laid out (column, TILE rows); {@code k0} is a multiple
     * of 4. Each code goes to the top byte (constant shifts, one scale per stretch of a column block), then down
     * by 4 with the sign repeated, and the mask leaves sign, exponent and mantissa.
     */
    private void dequantise(int t, int k0, int kLen, float[] out) {
        int kEnd = k0 + kLen;
        for (int j = 0; j < PANELS; j++) {
            int p = t * PANELS + j;
            int base = panelStart(p, 0, quads);
            int scales = p * scaleCols;
            int o = j * PANEL - k0 * TILE;
            for (int k = k0; k < kEnd; ) {
                // one scale vector per stretch of a column block: no division in the loop
                int end = Math.min(kEnd, (k / blockCols + 1) * blockCols);
                FloatVector scale = FloatVector.fromArray(PANEL_F, panelScales, (scales + k / blockCols) * PANEL);
                for (; k % 4 == 0 && k + 4 <= end; k += 4) {
                    IntVector v = IntVector.fromArray(PANEL_I, packed, base + (k >> 2) * TILE);
                    v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 4)
                            .lanewise(VectorOperators.AND, FP32_BITS_MASK).reinterpretAsFloats().mul(scale)
                            .intoArray(out, o + k * TILE);
                    v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 4)
                            .lanewise(VectorOperators.AND, FP32_BITS_MASK).reinterpretAsFloats().mul(scale)
                            .intoArray(out, o + (k + 1) * TILE);
                    v.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 4)
                            .lanewise(VectorOperators.AND, FP32_BITS_MASK).reinterpretAsFloats().mul(scale)
                            .intoArray(out, o + (k + 2) * TILE);
                    v.lanewise(VectorOperators.ASHR, 4)
                            .lanewise(VectorOperators.AND, FP32_BITS_MASK).reinterpretAsFloats().mul(scale)
                            .intoArray(out, o + (k + 3) * TILE);
                }
                for (; k < end && (k % 4 != 0 || k + 4 > end); k++) {
                    for (int lane = 0; lane < PANEL; lane++) out[o + k * TILE + lane] = weight(p * PANEL + lane, k);
                }
            }
        }
    }

    /** Rows {@code r .. r+3} over one dequantised column block, continuing their partial sums in {@code acc}. */
    private void rows4(float[] x, int r, int k0, int kLen, float[] w, float[] acc) {
        int s0 = r * TILE, s1 = s0 + TILE, s2 = s1 + TILE, s3 = s2 + TILE;
        FloatVector a00 = FloatVector.fromArray(PANEL_F, acc, s0), a01 = FloatVector.fromArray(PANEL_F, acc, s0 + PANEL);
        FloatVector a02 = FloatVector.fromArray(PANEL_F, acc, s0 + 2 * PANEL), a10 = FloatVector.fromArray(PANEL_F, acc, s1);
        FloatVector a11 = FloatVector.fromArray(PANEL_F, acc, s1 + PANEL), a12 = FloatVector.fromArray(PANEL_F, acc, s1 + 2 * PANEL);
        FloatVector a20 = FloatVector.fromArray(PANEL_F, acc, s2), a21 = FloatVector.fromArray(PANEL_F, acc, s2 + PANEL);
        FloatVector a22 = FloatVector.fromArray(PANEL_F, acc, s2 + 2 * PANEL), a30 = FloatVector.fromArray(PANEL_F, acc, s3);
        FloatVector a31 = FloatVector.fromArray(PANEL_F, acc, s3 + PANEL), a32 = FloatVector.fromArray(PANEL_F, acc, s3 + 2 * PANEL);
        int x0 = r * cols + k0, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        for (int k = 0; k < kLen; k++) {
            FloatVector w0 = FloatVector.fromArray(PANEL_F, w, k * TILE);
            FloatVector w1 = FloatVector.fromArray(PANEL_F, w, k * TILE + PANEL);
            FloatVector w2 = FloatVector.fromArray(PANEL_F, w, k * TILE + 2 * PANEL);
            FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
            a00 = w0.fma(b, a00);
            a01 = w1.fma(b, a01);
            a02 = w2.fma(b, a02);
            b = FloatVector.broadcast(PANEL_F, x[x1 + k]);
            a10 = w0.fma(b, a10);
            a11 = w1.fma(b, a11);
            a12 = w2.fma(b, a12);
            b = FloatVector.broadcast(PANEL_F, x[x2 + k]);
            a20 = w0.fma(b, a20);
            a21 = w1.fma(b, a21);
            a22 = w2.fma(b, a22);
            b = FloatVector.broadcast(PANEL_F, x[x3 + k]);
            a30 = w0.fma(b, a30);
            a31 = w1.fma(b, a31);
            a32 = w2.fma(b, a32);
        }
        a00.intoArray(acc, s0);
        a01.intoArray(acc, s0 + PANEL);
        a02.intoArray(acc, s0 + 2 * PANEL);
        a10.intoArray(acc, s1);
        a11.intoArray(acc, s1 + PANEL);
        a12.intoArray(acc, s1 + 2 * PANEL);
        a20.intoArray(acc, s2);
        a21.intoArray(acc, s2 + PANEL);
        a22.intoArray(acc, s2 + 2 * PANEL);
        a30.intoArray(acc, s3);
        a31.intoArray(acc, s3 + PANEL);
        a32.intoArray(acc, s3 + 2 * PANEL);
    }

    private void rows1(float[] x, int r, int k0, int kLen, float[] w, float[] acc) {
        int s0 = r * TILE;
        FloatVector a0 = FloatVector.fromArray(PANEL_F, acc, s0);
        FloatVector a1 = FloatVector.fromArray(PANEL_F, acc, s0 + PANEL);
        FloatVector a2 = FloatVector.fromArray(PANEL_F, acc, s0 + 2 * PANEL);
        int x0 = r * cols + k0;
        for (int k = 0; k < kLen; k++) {
            FloatVector b = FloatVector.broadcast(PANEL_F, x[x0 + k]);
            a0 = FloatVector.fromArray(PANEL_F, w, k * TILE).fma(b, a0);
            a1 = FloatVector.fromArray(PANEL_F, w, k * TILE + PANEL).fma(b, a1);
            a2 = FloatVector.fromArray(PANEL_F, w, k * TILE + 2 * PANEL).fma(b, a2);
        }
        a0.intoArray(acc, s0);
        a1.intoArray(acc, s0 + PANEL);
        a2.intoArray(acc, s0 + 2 * PANEL);
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

    /** The fp32 weight: the E4M3 value times its block's scale, rounded once. */
    private float weight(int n, int k) {
        byte code = (byte) (packed[panelStart(n / PANEL, k / 4, quads) + n % PANEL] >>> (8 * (k % 4)));
        float scale = panelScales[((n / PANEL) * scaleCols + k / blockCols) * PANEL + n % PANEL] / UNBIAS;
        return Fp8E4m3.toFloat(code) * scale;
    }

    @Override
    public void row(int n, float[] out, int offset) {
        for (int k = 0; k < cols; k++) out[offset + k] = weight(n, k);
    }

    /**
     * Slices and transposes (MLA's per-head absorption matrices) are small: they hold the same values in bf16 where
     * every one is a bf16 value (power-of-two block scales: an E4M3 value times 2^e has 4 significant bits), else in
     * fp32.
     */
    @Override
    public Matrix sliceRows(int from, int count) {
        return F32Matrix.copyOf(this).sliceRows(from, count).inBf16WhereExact();
    }

    @Override
    public Matrix transpose() {
        return F32Matrix.copyOf(this).transpose().inBf16WhereExact();
    }

    /** Another FP8 matrix of the same column blocks stacks as FP8 when this one's rows fill whole panels. */
    @Override
    public Matrix stack(Matrix below) {
        if (!(below instanceof Fp8Matrix b) || b.cols != cols || b.blockCols != blockCols || rows % PANEL != 0) {
            return F32Matrix.copyOf(this).stack(below);
        }
        int total = rows + b.rows;
        int tilesOut = (total + TILE - 1) / TILE;
        int[] p = new int[tilesOut * TILE * quads];
        float[] s = new float[tilesOut * TILE * scaleCols];
        int topPanels = rows / PANEL;
        int belowPanels = (b.rows + PANEL - 1) / PANEL;
        for (int panel = 0; panel < topPanels + belowPanels; panel++) {
            boolean top = panel < topPanels;
            int from = top ? panel : panel - topPanels;
            for (int q = 0; q < quads; q++) {
                System.arraycopy(top ? packed : b.packed, panelStart(from, q, quads), p, panelStart(panel, q, quads),
                        PANEL);
            }
        }
        System.arraycopy(panelScales, 0, s, 0, topPanels * scaleCols * PANEL);
        System.arraycopy(b.panelScales, 0, s, topPanels * scaleCols * PANEL, belowPanels * scaleCols * PANEL);
        return new Fp8Matrix(total, cols, blockCols, p, s);
    }
}
