package dev.moemesh.core.tensor;

import dev.moemesh.core.numeric.Bf16;
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
    /** bf16's quiet NaN 0x7FC0 widened to fp32 bits. */
    private static final int CANONICAL_NAN = 0x7FC00000;

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

    /**
     * Four {@link #dotBf16}s against the same {@code b}, of {@code a} at {@code a0[from .. from+3]}, into {@code
     * out[o .. o+3]}: each the same lanes, lane-sum tree and scalar tail, bit for bit; {@code b} is read and widened
     * once for the four.
     */
    public static void dotBf16x4(float[] a, int[] a0, int from, short[] b, int b0, int len, float[] out, int o) {
        int p0 = a0[from], p1 = a0[from + 1], p2 = a0[from + 2], p3 = a0[from + 3];
        int bound = F.loopBound(len);
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i < bound; i += WIDTH) {
            FloatVector w = widen(b, b0 + i);
            s0 = w.fma(FloatVector.fromArray(F, a, p0 + i), s0);
            s1 = w.fma(FloatVector.fromArray(F, a, p1 + i), s1);
            s2 = w.fma(FloatVector.fromArray(F, a, p2 + i), s2);
            s3 = w.fma(FloatVector.fromArray(F, a, p3 + i), s3);
        }
        float[] lanes = LANES.get();
        float r0 = Lanes.sum(s0, lanes), r1 = Lanes.sum(s1, lanes), r2 = Lanes.sum(s2, lanes), r3 = Lanes.sum(s3, lanes);
        for (; i < len; i++) {
            float w = Float.intBitsToFloat(b[b0 + i] << 16);
            r0 = Math.fma(w, a[p0 + i], r0);
            r1 = Math.fma(w, a[p1 + i], r1);
            r2 = Math.fma(w, a[p2 + i], r2);
            r3 = Math.fma(w, a[p3 + i], r3);
        }
        out[o] = r0;
        out[o + 1] = r1;
        out[o + 2] = r2;
        out[o + 3] = r3;
    }

    /**
     * Four weighted sums of the same bf16 rows: {@code y[y0[j] + i] = Σ_t p[j · length + t] · x[at[t] + i]} for j in
     * 0..3, i in [0, len), t from 0 up, each element the fma chain that zeroing {@code y} and calling {@link
     * #axpyBf16} once per row and sum gives, bit for bit. A strip of 16 columns of the four sums stays in registers
     * while the rows pass, so no partial sum is stored and reloaded per row.
     */
    public static void weightedSumBf16x4(float[] p, int length, short[] x, int[] at, int len, float[] y, int[] y0) {
        int q0 = y0[0], q1 = y0[1], q2 = y0[2], q3 = y0[3];
        int p1 = length, p2 = 2 * length, p3 = 3 * length;
        int i = 0;
        for (; i + 2 * WIDTH <= len; i += 2 * WIDTH) {
            FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00;
            FloatVector s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (int t = 0; t < length; t++) {
                FloatVector w0 = widen(x, at[t] + i), w1 = widen(x, at[t] + i + WIDTH);
                FloatVector b = FloatVector.broadcast(F, p[t]);
                s00 = b.fma(w0, s00);
                s01 = b.fma(w1, s01);
                b = FloatVector.broadcast(F, p[p1 + t]);
                s10 = b.fma(w0, s10);
                s11 = b.fma(w1, s11);
                b = FloatVector.broadcast(F, p[p2 + t]);
                s20 = b.fma(w0, s20);
                s21 = b.fma(w1, s21);
                b = FloatVector.broadcast(F, p[p3 + t]);
                s30 = b.fma(w0, s30);
                s31 = b.fma(w1, s31);
            }
            s00.intoArray(y, q0 + i);
            s01.intoArray(y, q0 + i + WIDTH);
            s10.intoArray(y, q1 + i);
            s11.intoArray(y, q1 + i + WIDTH);
            s20.intoArray(y, q2 + i);
            s21.intoArray(y, q2 + i + WIDTH);
            s30.intoArray(y, q3 + i);
            s31.intoArray(y, q3 + i + WIDTH);
        }
        for (; i < len; i++) {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            for (int t = 0; t < length; t++) {
                float w = Float.intBitsToFloat(x[at[t] + i] << 16);
                s0 = Math.fma(p[t], w, s0);
                s1 = Math.fma(p[p1 + t], w, s1);
                s2 = Math.fma(p[p2 + t], w, s2);
                s3 = Math.fma(p[p3 + t], w, s3);
            }
            y[q0 + i] = s0;
            y[q1 + i] = s1;
            y[q2 + i] = s2;
            y[q3 + i] = s3;
        }
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

    /**
     * {@code out[o0 + i] = bf16(x[x0 + i])} as a float: {@link Bf16#round}, lane by lane
     * (ties to even, NaN to PyTorch's quiet NaN).
     */
    public static void roundBf16(float[] x, int x0, float[] out, int o0, int len) {
        int bound = F.loopBound(len);
        int i = 0;
        for (; i < bound; i += WIDTH) roundedBf16(FloatVector.fromArray(F, x, x0 + i)).intoArray(out, o0 + i);
        for (; i < len; i++) out[o0 + i] = Bf16.round(x[x0 + i]);
    }

    /** {@code out[o0 + i] = }{@link Bf16#fromFloat}{@code (x[x0 + i])}: the bf16 bits a device or a wire takes. */
    public static void toBf16Bits(float[] x, int x0, short[] out, int o0, int len) {
        int bound = F.loopBound(len);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            ((ShortVector) roundedBf16(FloatVector.fromArray(F, x, x0 + i)).reinterpretAsInts()
                    .lanewise(VectorOperators.LSHR, 16).convertShape(VectorOperators.I2S, S, 0))
                    .intoArray(out, o0 + i);
        }
        for (; i < len; i++) out[o0 + i] = Bf16.fromFloat(x[x0 + i]);
    }

    /** {@code y[y0 + i] += alpha · bf16(x[x0 + i])}: a product and a sum, each rounded, as the scalar loop does. */
    public static void addScaledBf16(float alpha, float[] x, int x0, float[] y, int y0, int len) {
        int bound = F.loopBound(len);
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i < bound; i += WIDTH) {
            FloatVector.fromArray(F, y, y0 + i).add(a.mul(roundedBf16(FloatVector.fromArray(F, x, x0 + i))))
                    .intoArray(y, y0 + i);
        }
        for (; i < len; i++) y[y0 + i] += alpha * Bf16.round(x[x0 + i]);
    }

    private static FloatVector roundedBf16(FloatVector v) {
        IntVector bits = v.reinterpretAsInts();
        IntVector bias = bits.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.AND, 1).add(0x7FFF);
        IntVector rounded = bits.add(bias).lanewise(VectorOperators.AND, 0xFFFF0000);
        return rounded.blend(CANONICAL_NAN, v.test(VectorOperators.IS_NAN).cast(I)).reinterpretAsFloats();
    }

    private static FloatVector widen(short[] bits, int at) {
        return ((IntVector) ShortVector.fromArray(S, bits, at).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * {@code act[r][i] = silu(g) · u} for the gate and up halves of each row of {@code gateUp} (rows, 2 · inter), with
     * {@code silu(g) = g / (1 + exp(-g))} and {@link #exp} as the exponential: the same operations in a vector lane
     * and in the scalar tail, so an element's value depends only on its inputs.
     */
    public static void siluProduct(float[] gateUp, int rows, int inter, float[] act) {
        int bound = F.loopBound(inter);
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (int r = 0; r < rows; r++) {
            int g0 = r * 2 * inter, u0 = g0 + inter, a0 = r * inter;
            int i = 0;
            for (; i < bound; i += WIDTH) {
                FloatVector g = FloatVector.fromArray(F, gateUp, g0 + i);
                g.div(one.add(exp(g.neg()))).mul(FloatVector.fromArray(F, gateUp, u0 + i)).intoArray(act, a0 + i);
            }
            for (; i < inter; i++) {
                float g = gateUp[g0 + i];
                act[a0 + i] = g / (1f + exp(-g)) * gateUp[u0 + i];
            }
        }
    }

    /** The largest of {@code x[x0 .. x0 + len)}. */
    public static float max(float[] x, int x0, int len) {
        int bound = F.loopBound(len);
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i < bound; i += WIDTH) m = m.max(FloatVector.fromArray(F, x, x0 + i));
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; i < len; i++) max = Math.max(max, x[x0 + i]);
        return max;
    }

    /** Elements summed in float lanes before the block's sum joins the double total: bounds the rounding. */
    private static final int SUM_BLOCK = 1024;

    /**
     * The sum of {@link #exp}{@code (x[i] - shift)} over {@code x[x0 .. x0 + len)}: a softmax's denominator, with
     * {@code shift} its largest element so that no term overflows.
     */
    public static double sumExp(float[] x, int x0, int len, float shift) {
        FloatVector s = FloatVector.broadcast(F, shift);
        double total = 0;
        int i = 0;
        for (int end = F.loopBound(len); i < end; ) {
            FloatVector block = FloatVector.zero(F);
            for (int stop = Math.min(end, i + SUM_BLOCK); i < stop; i += WIDTH) {
                block = block.add(exp(FloatVector.fromArray(F, x, x0 + i).sub(s)));
            }
            total += block.reduceLanes(VectorOperators.ADD);
        }
        for (; i < len; i++) total += exp(x[x0 + i] - shift);
        return total;
    }

    private static final float LOG2E = 1.44269504f;
    private static final float LN2_HI = 0.693145752f; // ln 2 split so n · LN2_HI is exact for |n| < 2^9
    private static final float LN2_LO = 1.42860677e-6f;
    /** 1.5 · 2^23: adding it rounds a float below 2^22 to an integer, held in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final float MAX_EXP = 88.0f;
    private static final float MIN_EXP = -87.0f;

    /**
     * e^x to about one ulp, from IEEE additions, multiplications and FMAs alone (x clamped to [-87, 88]): e^x = 2^n ·
     * e^r with n the integer nearest x·log2(e), r = x - n·ln 2, e^r by its Taylor polynomial of degree 7.
     * {@link Math#exp} may differ between JIT tiers and from the vector form; this does not.
     */
    public static float exp(float x) {
        x = Math.min(Math.max(x, MIN_EXP), MAX_EXP);
        float t = Math.fma(x, LOG2E, ROUNDER);
        float n = t - ROUNDER;
        float r = Math.fma(-n, LN2_LO, Math.fma(-n, LN2_HI, x));
        float p = Math.fma(r, 1f / 5040, 1f / 720);
        p = Math.fma(p, r, 1f / 120);
        p = Math.fma(p, r, 1f / 24);
        p = Math.fma(p, r, 1f / 6);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - 0x4B400000 + 127) << 23);
    }

    /** {@link #exp} lane by lane: the same operations in the same order. */
    static FloatVector exp(FloatVector x) {
        x = x.max(MIN_EXP).min(MAX_EXP);
        FloatVector t = x.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.neg().fma(FloatVector.broadcast(F, LN2_LO), n.neg().fma(FloatVector.broadcast(F, LN2_HI), x));
        FloatVector p = r.fma(1f / 5040, 1f / 720);
        p = p.fma(r, FloatVector.broadcast(F, 1f / 120));
        p = p.fma(r, FloatVector.broadcast(F, 1f / 24));
        p = p.fma(r, FloatVector.broadcast(F, 1f / 6));
        p = p.fma(r, FloatVector.broadcast(F, 0.5f));
        p = p.fma(r, FloatVector.broadcast(F, 1f));
        p = p.fma(r, FloatVector.broadcast(F, 1f));
        return p.mul(t.reinterpretAsInts().sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
    }
}
