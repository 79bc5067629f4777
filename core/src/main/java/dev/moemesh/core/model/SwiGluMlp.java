package dev.moemesh.core.model;

import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.tensor.Parallel;

/**
 * The SwiGLU feed-forward {@code w2(silu(w1 x) · w3 x)}: DeepSeek's dense MLP, shared expert and routed expert
 * are all this, with different sizes.
 */
public final class SwiGluMlp implements FeedForward {
    private final Matrix w1; // gate_proj (inter, hidden)
    private final Matrix w3; // up_proj   (inter, hidden)
    private final Matrix w2; // down_proj (hidden, inter)

    public SwiGluMlp(Matrix w1, Matrix w3, Matrix w2) {
        this.w1 = w1;
        this.w3 = w3;
        this.w2 = w2;
    }

    /** Reads {@code prefix + gate_proj/up_proj/down_proj.weight}. */
    public static SwiGluMlp load(WeightReader r, String prefix, int hidden, int inter) {
        return new SwiGluMlp(
                r.matrix(prefix + "gate_proj.weight", inter, hidden),
                r.matrix(prefix + "up_proj.weight", inter, hidden),
                r.matrix(prefix + "down_proj.weight", hidden, inter));
    }

    public int hidden() {
        return w1.cols();
    }

    public int inter() {
        return w1.rows();
    }

    @Override
    public void apply(float[] x, int rows, float[] out, Workspace ws) {
        int n = rows * w1.rows();
        apply(x, rows, out, ws.buffer(Workspace.Slot.GATE, n), ws.buffer(Workspace.Slot.UP, n));
    }

    /** {@code out = w2(silu(w1 x) · w3 x)} for {@code rows} rows; {@code gate}, {@code up} are (rows, inter) scratch. */
    public void apply(float[] x, int rows, float[] out, float[] gate, float[] up) {
        w1.multiply(x, rows, gate);
        w3.multiply(x, rows, up);
        Parallel.forRange(rows * w1.rows(), 4096, (from, to) -> {
            for (int i = from; i < to; i++) {
                float g = gate[i];
                gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
            }
        });
        w2.multiply(gate, rows, out);
    }
}
