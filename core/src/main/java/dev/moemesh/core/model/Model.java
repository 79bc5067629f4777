package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.tensor.Matrix;
import dev.moemesh.core.weights.WeightReader;

import java.nio.file.Path;

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
    private final RotaryEmbedding rope;
    private final int maxSeqLen;
    private final ModelOptions options;

    private Model(ModelConfig config, Path directory, Matrix embed, Block[] blocks, RmsNorm norm, Matrix lmHead,
                  RotaryEmbedding rope, int maxSeqLen, ModelOptions options) {
        this.config = config;
        this.directory = directory;
        this.embed = embed;
        this.blocks = blocks;
        this.norm = norm;
        this.lmHead = lmHead;
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

    /** {@link #load(Path, int, ExpertBackend)} with the FP8 weight and KV cache choices given rather than configured. */
    public static Model load(Path dir, int maxSeqLen, ExpertBackend experts, ModelOptions options) {
        ModelConfig c = ModelConfig.load(dir);
        int[] block = c.fp8BlockSize();
        try (SafetensorsCheckpoint ckpt = block == null ? SafetensorsCheckpoint.open(dir)
                : SafetensorsCheckpoint.open(dir, block[0], block[1])) {
            WeightReader r = new WeightReader(ckpt, options.fp8Weights());
            ExpertBackend backend = experts != null ? experts : LocalExperts.loadAll(r, c);
            int hidden = c.hiddenSize();
            float eps = (float) c.rmsNormEps();
            Matrix embed = r.matrix("model.embed_tokens.weight", c.vocabSize(), hidden);
            Block[] blocks = new Block[c.numLayers()];
            for (int i = 0; i < blocks.length; i++) {
                String p = "model.layers." + i + ".";
                FeedForward ffn = c.isMoeLayer(i)
                        ? MoeFeedForward.load(r, p + "mlp.", i, c, backend)
                        : SwiGluMlp.load(r, p + "mlp.", hidden, c.intermediateSize());
                blocks[i] = new Block(i,
                        new RmsNorm(r.vector(p + "input_layernorm.weight", hidden), eps),
                        Mla.load(r, p + "self_attn.", c),
                        new RmsNorm(r.vector(p + "post_attention_layernorm.weight", hidden), eps),
                        ffn);
            }
            Matrix lmHead = c.tieWordEmbeddings() && !r.has("lm_head.weight")
                    ? embed : r.matrix("lm_head.weight", c.vocabSize(), hidden);
            RmsNorm norm = new RmsNorm(r.vector("model.norm.weight", hidden), eps);
            int served = maxSeqLen > 0 ? maxSeqLen : c.maxPositionEmbeddings();
            return new Model(c, dir, embed, blocks, norm, lmHead, new RotaryEmbedding(c, maxSeqLen), served,
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

    /** Hands every MoE layer's routed experts to {@code backend} (applied between steps). */
    public void useExperts(ExpertBackend backend) {
        for (Block b : blocks) {
            if (b.feedForward() instanceof MoeFeedForward moe) moe.useExperts(backend);
        }
    }

    public LatentKvCache newCache(int blockTokens, int totalBlocks) {
        return new LatentKvCache(config.numLayers(), config.kvLoraRank(), config.qkRopeHeadDim(), blockTokens, totalBlocks,
                options.kvCache());
    }

    /**
     * Runs one step and writes the logits of the rows listed in {@code logitRows[0 .. logitCount)} into
     * {@code logits} (logitCount, vocab).
     */
    public void forward(StepRows step, LatentKvCache cache, Workspace ws, int[] logitRows, int logitCount,
                        float[] logits) {
        int rows = step.count();
        int hidden = config.hiddenSize();
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
        if (logitCount == 0) return;
        float[] last = ws.buffer(Workspace.Slot.NORMED, logitCount * hidden);
        for (int i = 0; i < logitCount; i++) {
            System.arraycopy(x, logitRows[i] * hidden, last, i * hidden, hidden);
        }
        norm.apply(last, logitCount, last);
        lmHead.multiply(last, logitCount, logits);
    }
}
