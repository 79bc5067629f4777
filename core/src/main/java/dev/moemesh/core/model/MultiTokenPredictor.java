package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.weights.WeightReader;

/**
 * DeepSeek-V3's multi-token-prediction (MTP) module, the checkpoint's layer {@code num_hidden_layers}: from the main
 * model's hidden state at position i and the token at i + 1 it predicts the token at i + 2.
 *
 * <p>{@code h' = eh_proj [enorm(embed(t_{i+1})) ; hnorm(h_i)]}, then a whole decoder block (MLA with its own layer of
 * the latent cache, MoE routed like any layer's), then {@code shared_head.norm} and {@code shared_head.head}. The
 * concatenation puts the embedding first and {@code h_i} is the main model's state after its final norm (the input of
 * lm_head), as vLLM's and SGLang's DeepSeek MTP read the released weights; the report's equation writes the two
 * halves the other way round. The embedding is the main model's (the report shares it).
 */
public final class MultiTokenPredictor {
    private final int hidden;
    private final Matrix embed;     // (vocab, hidden), the main model's
    private final RmsNorm enorm;    // (hidden)
    private final RmsNorm hnorm;    // (hidden)
    private final Matrix ehProj;    // (hidden, 2 * hidden): [embedding half | hidden-state half]
    private final Block block;      // index num_hidden_layers: its cache layer is the cache's last
    private final RmsNorm headNorm; // shared_head.norm (hidden)
    private final Matrix head;      // shared_head.head (vocab, hidden)

    private MultiTokenPredictor(int hidden, Matrix embed, RmsNorm enorm, RmsNorm hnorm, Matrix ehProj, Block block,
                                RmsNorm headNorm, Matrix head) {
        this.hidden = hidden;
        this.embed = embed;
        this.enorm = enorm;
        this.hnorm = hnorm;
        this.ehProj = ehProj;
        this.block = block;
        this.headNorm = headNorm;
        this.head = head;
    }

    /**
     * Loads {@code model.layers.<num_hidden_layers>.*}; {@code shared_head.head} is the main lm_head (tensor {@code
     * lmHeadName}) where a checkpoint leaves it out or stores the same weights (DeepSeek-V3's do: the report shares the
     * output head), so one copy is held (1.8 GB for V3), and the checkpoint's second copy is compared in the file, never
     * read onto the heap.
     */
    static MultiTokenPredictor load(WeightReader r, ModelConfig c, Matrix embed, Matrix lmHead, String lmHeadName,
                                    ExpertBackend experts) {
        int layer = c.mtpLayer();
        String p = "model.layers." + layer + ".";
        int h = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        String ownName = p + "shared_head.head.weight";
        Matrix head = r.has(ownName) && !r.checkpoint().sameTensor(ownName, lmHeadName)
                ? r.matrix(ownName, c.vocabSize(), h) : lmHead;
        return new MultiTokenPredictor(h, embed,
                new RmsNorm(r.vector(p + "enorm.weight", h), eps),
                new RmsNorm(r.vector(p + "hnorm.weight", h), eps),
                r.matrix(p + "eh_proj.weight", h, 2 * h),
                Block.load(r, layer, c, experts),
                new RmsNorm(r.vector(p + "shared_head.norm.weight", h), eps),
                head);
    }

    /** {@code shared_head.head}: the main lm_head itself when the checkpoint's copy holds the same weights. */
    Matrix head() {
        return head;
    }

    Block block() {
        return block;
    }

    /**
     * Runs the module on one step's rows: row r is the pair (main hidden state at position {@code step.position(r)},
     * token {@code step.token(r)} at the position after it), and writes that position of the module's cache layer.
     * Writes every row's output state (before {@code shared_head.norm}, what vLLM's DeepSeek MTP chains) into
     * {@code hiddenOut} (rows, hidden) when it is not null (the next draft's input when drafts are chained), and the
     * logits of the rows in {@code logitRows} into {@code logits} (logitCount, vocab): the module's guess at the token
     * two positions on. Rows routed to an expert that could not be computed are marked in {@code ws}, as in
     * {@link Model#forward}.
     *
     * @param previousHidden (rows, hidden): the main model's final-normed hidden states, or this module's own
     *                       output for a chained draft
     */
    public void forward(StepRows step, float[] previousHidden, LatentKvCache cache, Workspace ws, int[] logitRows,
                        int logitCount, float[] logits, float[] hiddenOut) {
        int rows = step.count();
        ws.startPass();
        float[] in = ws.buffer(Workspace.Slot.MTP_INPUT, rows * 2 * hidden);
        for (int r = 0; r < rows; r++) embed.row(step.token(r), in, r * 2 * hidden);
        enorm.apply(in, 0, rows, 2 * hidden, in, 0, 2 * hidden);
        hnorm.apply(previousHidden, 0, rows, hidden, in, hidden, 2 * hidden);
        float[] x = ws.buffer(Workspace.Slot.HIDDEN, rows * hidden);
        ehProj.multiply(in, rows, x);
        block.forward(step, x, cache, ws);
        if (hiddenOut != null) System.arraycopy(x, 0, hiddenOut, 0, rows * hidden);
        float[] normed = ws.buffer(Workspace.Slot.MTP_INPUT, rows * hidden);
        headNorm.apply(x, rows, normed);
        if (logitCount == 0) return;
        float[] last = ws.buffer(Workspace.Slot.NORMED, logitCount * hidden);
        for (int i = 0; i < logitCount; i++) System.arraycopy(normed, logitRows[i] * hidden, last, i * hidden, hidden);
        head.multiply(last, logitCount, logits);
    }
}
