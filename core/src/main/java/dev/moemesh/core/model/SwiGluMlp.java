package dev.moemesh.core.model;

import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.tensor.Vectors;
import dev.moemesh.core.weights.WeightReader;

/**
 * The SwiGLU feed-forward {@code w2(silu(w1 x) · w3 x)}: DeepSeek's dense MLP, shared expert and routed expert
 * are all this, with different sizes.
 */
public final class SwiGluMlp implements FeedForward {
    private final Matrix w13; // gate_proj over up_proj (2 * inter, hidden): one pass over x for both
    private final Matrix w2;  // down_proj (hidden, inter)
    private final int inter;

    public SwiGluMlp(Matrix w1, Matrix w3, Matrix w2) {
        this.w13 = w1.stack(w3);
        this.w2 = w2;
        this.inter = w1.rows();
    }

    /** Reads {@code prefix + gate_proj/up_proj/down_proj.weight}. */
    public static SwiGluMlp load(WeightReader r, String prefix, int hidden, int inter) {
        return new SwiGluMlp(
                r.matrix(prefix + "gate_proj.weight", inter, hidden),
                r.matrix(prefix + "up_proj.weight", inter, hidden),
                r.matrix(prefix + "down_proj.weight", hidden, inter));
    }

    public int hidden() {
        return w13.cols();
    }

    public int inter() {
        return inter;
    }

    @Override
    public void apply(float[] x, int rows, float[] out, Workspace ws) {
        apply(x, rows, out, ws.buffer(Workspace.Slot.GATE_UP, rows * 2 * inter), ws.buffer(Workspace.Slot.ACT, rows * inter));
    }

    /**
     * {@code out = w2(silu(w1 x) · w3 x)} for {@code rows} rows; {@code gateUp} (rows, 2 · inter) and
     * {@code act} (rows, inter) are scratch.
     */
    public void apply(float[] x, int rows, float[] out, float[] gateUp, float[] act) {
        w13.multiply(x, rows, gateUp);
        Vectors.siluProduct(gateUp, rows, inter, act);
        w2.multiply(act, rows, out);
    }
}
