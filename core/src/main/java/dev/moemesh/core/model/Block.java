package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.weights.WeightReader;

/** One transformer layer: {@code x += attn(norm(x)); x += ffn(norm(x))}. */
public final class Block {
    private final int index;
    private final RmsNorm attnNorm;
    private final Mla attn;
    private final RmsNorm ffnNorm;
    private final FeedForward ffn;

    public Block(int index, RmsNorm attnNorm, Mla attn, RmsNorm ffnNorm, FeedForward ffn) {
        this.index = index;
        this.attnNorm = attnNorm;
        this.attn = attn;
        this.ffnNorm = ffnNorm;
        this.ffn = ffn;
    }

    /** Loads {@code model.layers.<index>.*}: a MoE block with its routed experts on {@code experts}, or a dense one. */
    static Block load(WeightReader r, int index, ModelConfig c, ExpertBackend experts) {
        String p = "model.layers." + index + ".";
        int hidden = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        FeedForward ffn = c.isMoeLayer(index)
                ? MoeFeedForward.load(r, p + "mlp.", index, c, experts)
                : SwiGluMlp.load(r, p + "mlp.", hidden, c.intermediateSize());
        return new Block(index,
                new RmsNorm(r.vector(p + "input_layernorm.weight", hidden), eps),
                Mla.load(r, p + "self_attn.", c),
                new RmsNorm(r.vector(p + "post_attention_layernorm.weight", hidden), eps),
                ffn);
    }

    public Mla attention() {
        return attn;
    }

    public FeedForward feedForward() {
        return ffn;
    }

    /** Runs the layer on {@code x} (rows, hidden) in place. */
    public void forward(StepRows step, float[] x, LatentKvCache cache, Workspace ws) {
        int rows = step.count();
        int n = rows * attnNorm.dim();
        float[] normed = ws.buffer(Workspace.Slot.NORMED, n);
        float[] branch = ws.buffer(Workspace.Slot.BRANCH, n);
        attnNorm.apply(x, rows, normed);
        attn.forward(step, normed, branch, cache, index, ws);
        for (int i = 0; i < n; i++) x[i] += branch[i];
        ffnNorm.apply(x, rows, normed);
        ffn.apply(normed, rows, branch, ws);
        for (int i = 0; i < n; i++) x[i] += branch[i];
    }
}
