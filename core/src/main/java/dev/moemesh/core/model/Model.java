package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.weights.WeightReader;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A DeepSeek-V2/V3 transformer loaded from a Hugging Face checkpoint: embeddings, blocks of MLA and dense or
 * MoE feed-forward, final norm, lm_head. Routed experts sit behind an {@link ExpertBackend}.
 */
public final class Model {
    private final ModelConfig config;
    private final Path directory;
    private final Matrix embed;   // (vocab, hidden)
    private final Block[] blocks;
    private final RmsNorm norm;   // (hidden)
    private final Matrix lmHead;  // (vocab, hidden)
    private final MultiTokenPredictor mtp; // null unless loaded (ModelOptions.mtp)
    private final RotaryEmbedding rope;
    private final int maxSeqLen;
    private final ModelOptions options;

    private Model(ModelConfig config, Path directory, Matrix embed, Block[] blocks, RmsNorm norm, Matrix lmHead,
                  MultiTokenPredictor mtp, RotaryEmbedding rope, int maxSeqLen, ModelOptions options) {
        this.config = config;
        this.directory = directory;
        this.embed = embed;
        this.blocks = blocks;
        this.norm = norm;
        this.lmHead = lmHead;
        this.mtp = mtp;
        this.rope = rope;
        this.maxSeqLen = maxSeqLen;
        this.options = options;
    }

    /** Loads the whole model, routed experts included, into this process. */
    public static Model load(Path dir, int maxSeqLen) {
        return load(dir, maxSeqLen, null);
    }

    /**
     * Loads everything but the routed experts, which {@code experts} computes; with {@code experts == null} the
     * routed experts are loaded here too.
     *
     * @param maxSeqLen the longest context this engine serves; 0 means the config's max_position_embeddings, with
     *                  YaRN applied whenever the config has it (as Hugging Face does)
     */
    public static Model load(Path dir, int maxSeqLen, ExpertBackend experts) {
        return load(dir, maxSeqLen, experts, ModelOptions.configured());
    }

    /**
     * {@link #load(Path, int, ExpertBackend)} with the FP8 weight and KV cache choices given rather than configured,
     * and the multi-token-prediction module when {@code options.mtp()}.
     *
     * @throws IllegalArgumentException when the MTP module is asked for and the checkpoint has none
     */
    public static Model load(Path dir, int maxSeqLen, ExpertBackend experts, ModelOptions options) {
        ModelConfig c = ModelConfig.load(dir);
        if (options.mtp() && c.numNextnPredictLayers() == 0) {
            throw new IllegalArgumentException("model " + dir + " has no multi-token-prediction layer"
                    + " (num_nextn_predict_layers is 0 in its config.json), which speculative decoding drafts with:"
                    + " serve it without speculative tokens, or write a checkpoint with one (mesh make-model --mtp-layers 1)");
        }
        int[] block = c.fp8BlockSize();
        try (SafetensorsCheckpoint ckpt = block == null ? SafetensorsCheckpoint.open(dir)
                : SafetensorsCheckpoint.open(dir, block[0], block[1])) {
            WeightReader r = new WeightReader(ckpt, options.fp8Weights());
            ExpertBackend backend = experts != null ? experts
                    : LocalExperts.load(r, c, (layer, expert) -> layer < c.numLayers() || options.mtp());
            int hidden = c.hiddenSize();
            Matrix embed = r.matrix("model.embed_tokens.weight", c.vocabSize(), hidden);
            Block[] blocks = new Block[c.numLayers()];
            for (int i = 0; i < blocks.length; i++) blocks[i] = Block.load(r, i, c, backend);
            boolean tied = c.tieWordEmbeddings() && !r.has("lm_head.weight");
            String lmHeadName = tied ? "model.embed_tokens.weight" : "lm_head.weight";
            Matrix lmHead = tied ? embed : r.matrix(lmHeadName, c.vocabSize(), hidden);
            RmsNorm norm = new RmsNorm(r.vector("model.norm.weight", hidden), (float) c.rmsNormEps());
            MultiTokenPredictor mtp = options.mtp()
                    ? MultiTokenPredictor.load(r, c, embed, lmHead, lmHeadName, backend) : null;
            int served = maxSeqLen > 0 ? maxSeqLen : c.maxPositionEmbeddings();
            return new Model(c, dir, embed, blocks, norm, lmHead, mtp, new RotaryEmbedding(c, maxSeqLen), served,
                    options);
        }
    }

    public ModelConfig config() {
        return config;
    }

    public Path directory() {
        return directory;
    }

    /** The longest context (prompt + generated tokens) this instance serves. */
    public int maxSeqLen() {
        return maxSeqLen;
    }

    public RotaryEmbedding rope() {
        return rope;
    }

    public Block block(int i) {
        return blocks[i];
    }

    Matrix lmHead() {
        return lmHead;
    }

    /** The multi-token-prediction module, when it was loaded. */
    public Optional<MultiTokenPredictor> mtp() {
        return Optional.ofNullable(mtp);
    }

    /** Hands every MoE layer's routed experts to {@code backend} (applied between steps), the MTP module's included. */
    public void useExperts(ExpertBackend backend) {
        for (Block b : blocks) {
            if (b.feedForward() instanceof MoeFeedForward moe) moe.useExperts(backend);
        }
        if (mtp != null && mtp.block().feedForward() instanceof MoeFeedForward moe) moe.useExperts(backend);
    }

    /** A latent cache with a layer per block, and one more for the MTP module when it is loaded. */
    public LatentKvCache newCache(int blockTokens, int totalBlocks) {
        return new LatentKvCache(config.numLayers() + (mtp == null ? 0 : 1), config.kvLoraRank(), config.qkRopeHeadDim(),
                blockTokens, totalBlocks, options.kvCache());
    }

    /**
     * Runs one step and writes the logits of the rows listed in {@code logitRows[0 .. logitCount)} into
     * {@code logits} (logitCount, vocab).
     */
    public void forward(StepRows step, LatentKvCache cache, Workspace ws, int[] logitRows, int logitCount,
                        float[] logits) {
        forward(step, cache, ws, logitRows, logitCount, logits, null);
    }

    /**
     * As above, and when {@code normedOut} is not null, every row's hidden state after the final norm (the input of
     * lm_head, and of the MTP module) into it, (rows, hidden). Rows routed to an expert the backend could not compute
     * ({@link dev.moemesh.core.moe.ExpertsUnservedException}) are marked in {@code ws} ({@link Workspace#unserved(int)})
     * and their results are wrong; every other row's are exact.
     */
    public void forward(StepRows step, LatentKvCache cache, Workspace ws, int[] logitRows, int logitCount,
                        float[] logits, float[] normedOut) {
        int rows = step.count();
        int hidden = config.hiddenSize();
        ws.startPass();
        float[] x = ws.buffer(Workspace.Slot.HIDDEN, rows * hidden);
        for (int r = 0; r < rows; r++) {
            int token = step.token(r);
            if (token < 0 || token >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
            embed.row(token, x, r * hidden);
        }
        for (Block b : blocks) b.forward(step, x, cache, ws);
        if (normedOut != null) norm.apply(x, rows, normedOut);
        if (logitCount == 0) return;
        float[] last = ws.buffer(Workspace.Slot.NORMED, logitCount * hidden);
        float[] from = normedOut != null ? normedOut : x;
        for (int i = 0; i < logitCount; i++) {
            System.arraycopy(from, logitRows[i] * hidden, last, i * hidden, hidden);
        }
        if (normedOut == null) norm.apply(last, logitCount, last);
        lmHead.multiply(last, logitCount, logits);
    }
}
