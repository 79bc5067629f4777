package dev.moemesh.core.checkpoint;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.safetensors.CheckpointWriter.TensorSpec;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * A checkpoint with an MTP layer whose next token is a known successor of the last one, to measure speculative
 * decoding at a chosen acceptance rate. Its weights are {@link RandomCheckpoint}'s but for four tensors: a large
 * embedding, so that the residual stream at the last layer still points at the token's embedding; an lm_head whose
 * row for token {@code u} is the unit embedding of the token {@code u} succeeds ({@link #successors}), so the main
 * model continues {@code t} with {@code successor[t]}; an MTP {@code eh_proj} that passes the token's embedding
 * through; and an MTP head that drafts {@code successor[t]} after {@code t} for a fraction {@code agreement} of the
 * vocabulary and another token for the rest. Every other weight is random, so every layer computes what it would on
 * any checkpoint of the shape.
 */
public final class PredictableCheckpoint {
    private static final double EMBEDDING_STD = 8;
    private static final double HEAD_SCALE = 1;
    private static final double EH_PROJ_PASS = 4;
    private static final double EH_PROJ_HIDDEN_STD = 0.1;

    private final long seed;
    private final int vocab;
    private final int hidden;
    private final int mtpLayer;
    private final int[] predecessor;      // (vocab): the token the main model continues with this one
    private final int[] draftPredecessor; // (vocab): the token after which the MTP module drafts this one

    private PredictableCheckpoint(long seed, ModelConfig c, double agreement) {
        this.seed = seed;
        this.vocab = c.vocabSize();
        this.hidden = c.hiddenSize();
        this.mtpLayer = c.mtpLayer();
        int[] successor = successors(vocab, seed);
        int[] drafted = draftSuccessors(successor, agreement, seed);
        predecessor = new int[vocab];
        draftPredecessor = new int[vocab];
        for (int t = 0; t < vocab; t++) {
            predecessor[successor[t]] = t;
            draftPredecessor[drafted[t]] = t;
        }
    }

    /**
     * Writes the checkpoint: {@code preset}'s shape with one MTP layer, whose drafts agree with the main model's next
     * token after a fraction {@code agreement} (0 to 1) of the tokens.
     */
    public static void write(Path dir, Preset preset, long seed, double agreement) {
        if (!(agreement >= 0 && agreement <= 1)) {
            throw new IllegalArgumentException("agreement must be between 0 and 1, got " + agreement);
        }
        var config = RandomCheckpoint.withMtpLayers(preset.config(), 1);
        PredictableCheckpoint weights = new PredictableCheckpoint(seed, ModelConfig.parse(config, dir.resolve("config.json")),
                agreement);
        RandomCheckpoint.write(dir, config, seed, false, RandomCheckpoint.shardBytes(preset), weights::fill);
    }

    /** The main model's next token after each token: a random permutation of the vocabulary drawn from {@code seed}. */
    public static int[] successors(int vocab, long seed) {
        int[] order = shuffled(vocab, new SplittableRandom(seed ^ 0x5DEECE66DL));
        int[] successor = new int[vocab];
        for (int i = 0; i < vocab; i++) successor[order[i]] = order[(i + 1) % vocab]; // one cycle through every token
        return successor;
    }

    /**
     * The MTP module's draft after each token: {@code successor[t]} for a random {@code agreement} share of the tokens;
     * for the others the successor of another of them (shifted round, so each draft is still some token's).
     */
    static int[] draftSuccessors(int[] successor, double agreement, long seed) {
        int vocab = successor.length;
        int[] order = shuffled(vocab, new SplittableRandom(seed ^ 0x2545F4914F6CDD1DL));
        int differ = (int) Math.round((1 - agreement) * vocab);
        if (differ == 1) differ = 0; // one token cannot be given another's successor
        int[] drafted = successor.clone();
        for (int i = 0; i < differ; i++) drafted[order[i]] = successor[order[(i + 1) % differ]];
        return drafted;
    }

    private static int[] shuffled(int n, SplittableRandom random) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }

    private boolean fill(TensorSpec spec, ByteBuffer out) {
        String name = spec.name();
        String mtp = "model.layers." + mtpLayer + ".";
        if (name.equals("model.embed_tokens.weight") || name.equals(mtp + "embed_tokens.weight")) {
            float[] row = new float[hidden];
            for (int t = 0; t < vocab; t++) {
                embedding(t, row);
                for (float v : row) out.putShort(Bf16.fromFloat(v));
            }
            return true;
        }
        if (name.equals("lm_head.weight")) {
            head(predecessor, out);
            return true;
        }
        if (name.equals(mtp + "shared_head.head.weight")) {
            head(draftPredecessor, out);
            return true;
        }
        if (name.equals(mtp + "eh_proj.weight")) {
            // [pass · I | small random]: the module sees the next token's normalised embedding, nudged by the state
            SplittableRandom random = new SplittableRandom(seed ^ name.hashCode());
            double half = Math.sqrt(3) * EH_PROJ_HIDDEN_STD / Math.sqrt(hidden);
            for (int o = 0; o < hidden; o++) {
                for (int i = 0; i < hidden; i++) out.putShort(Bf16.fromFloat(i == o ? (float) EH_PROJ_PASS : 0f));
                for (int i = 0; i < hidden; i++) out.putShort(Bf16.fromFloat((float) (half * (random.nextDouble() * 2 - 1))));
            }
            return true;
        }
        return false;
    }

    /** Row {@code t} of the embedding, as floats before bf16 rounding. */
    private void embedding(int t, float[] row) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + t);
        double half = Math.sqrt(3) * EMBEDDING_STD;
        for (int i = 0; i < hidden; i++) row[i] = Bf16.round((float) (half * (random.nextDouble() * 2 - 1)));
    }

    /** Row {@code u}: {@code HEAD_SCALE ·} the unit embedding of {@code from[u]}, so the head favours u after from[u]. */
    private void head(int[] from, ByteBuffer out) {
        float[] row = new float[hidden];
        for (int u = 0; u < vocab; u++) {
            embedding(from[u], row);
            double norm = 0;
            for (float v : row) norm += (double) v * v;
            double scale = HEAD_SCALE / Math.sqrt(norm);
            for (float v : row) out.putShort(Bf16.fromFloat((float) (v * scale)));
        }
    }
}
