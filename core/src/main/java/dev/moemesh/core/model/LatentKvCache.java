package dev.moemesh.core.model;

import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.tensor.Vectors;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * MLA's compressed KV cache, paged: per layer and token it keeps the normalised latent {@code c_kv}
 * (kv_lora_rank values) followed by the rotated rope key (qk_rope_head_dim values), in bf16 by default (as
 * DeepSeek's reference keeps its cache) or fp32. Storage is cut into fixed-size blocks; each sequence owns a
 * block table, so sequences of any length share one pool and a finished sequence returns its blocks at once.
 */
public final class LatentKvCache {
    /** How an entry is stored: {@code -Dmoemesh.kv-cache=bf16|f32}. */
    public enum Format {
        BF16(2), F32(4);

        private final int bytes;

        Format(int bytes) {
            this.bytes = bytes;
        }

        public static Format configured() {
            String v = System.getProperty("moemesh.kv-cache", "bf16");
            return switch (v) {
                case "bf16" -> BF16;
                case "f32" -> F32;
                default -> throw new IllegalArgumentException("moemesh.kv-cache is '" + v + "': use bf16 or f32");
            };
        }
    }

    private final Format format;
    private final int blockTokens;
    private final int kvLoraRank;
    private final int width;                // kv_lora_rank + qk_rope_head_dim
    private final short[][] bf16;           // (layer) -> (block, blockTokens, width), BF16
    private final float[][] f32;            // (layer) -> (block, blockTokens, width), F32
    private final ArrayDeque<Integer> freeBlocks = new ArrayDeque<>();
    private final int totalBlocks;

    /** One sequence's view of the cache: its block table. */
    public static final class Sequence {
        private int[] blocks = new int[4];
        private int blockCount;
    }

    public LatentKvCache(int layers, int kvLoraRank, int ropeDim, int blockTokens, int totalBlocks) {
        this(layers, kvLoraRank, ropeDim, blockTokens, totalBlocks, Format.configured());
    }

    public LatentKvCache(int layers, int kvLoraRank, int ropeDim, int blockTokens, int totalBlocks, Format format) {
        long valuesPerLayer = (long) totalBlocks * blockTokens * (kvLoraRank + ropeDim);
        if (valuesPerLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + totalBlocks + " blocks x " + blockTokens
                    + " tokens is too large for one layer's array; lower the block count");
        }
        this.format = format;
        this.blockTokens = blockTokens;
        this.kvLoraRank = kvLoraRank;
        this.width = kvLoraRank + ropeDim;
        this.totalBlocks = totalBlocks;
        this.bf16 = format == Format.BF16 ? new short[layers][(int) valuesPerLayer] : null;
        this.f32 = format == Format.F32 ? new float[layers][(int) valuesPerLayer] : null;
        for (int b = 0; b < totalBlocks; b++) freeBlocks.add(b);
    }

    public Format format() {
        return format;
    }

    /** Bytes one token takes in one layer. */
    public int bytesPerTokenPerLayer() {
        return width * format.bytes;
    }

    public int blockTokens() {
        return blockTokens;
    }

    public int freeBlocks() {
        return freeBlocks.size();
    }

    public int totalBlocks() {
        return totalBlocks;
    }

    /** Blocks a sequence needs to hold {@code tokens} tokens. */
    public int blocksFor(int tokens) {
        return (tokens + blockTokens - 1) / blockTokens;
    }

    public Sequence newSequence() {
        return new Sequence();
    }

    /** Grows {@code seq} to hold {@code newLength} tokens, taking blocks from the pool. */
    public void reserve(Sequence seq, int newLength) {
        int needed = blocksFor(newLength);
        if (needed - seq.blockCount > freeBlocks.size()) {
            throw new IllegalStateException("KV cache is full: " + seq.blockCount + " blocks held, " + needed
                    + " needed, " + freeBlocks.size() + " free of " + totalBlocks + " (" + blockTokens + " tokens each)");
        }
        while (seq.blockCount < needed) {
            if (seq.blockCount == seq.blocks.length) seq.blocks = Arrays.copyOf(seq.blocks, seq.blocks.length * 2);
            seq.blocks[seq.blockCount++] = freeBlocks.poll();
        }
    }

    /** Returns every block of {@code seq} to the pool. */
    public void release(Sequence seq) {
        for (int i = 0; i < seq.blockCount; i++) freeBlocks.add(seq.blocks[i]);
        seq.blockCount = 0;
    }

    /** Offset in a layer's storage of the entry for token {@code pos} of {@code seq}. */
    public int offset(Sequence seq, int pos) {
        return (seq.blocks[pos / blockTokens] * blockTokens + pos % blockTokens) * width;
    }

    /** Stores {@code entry[from, from + width)} (latent, then rope key) as token {@code pos} of {@code seq}. */
    public void write(int layer, Sequence seq, int pos, float[] entry, int from) {
        int at = offset(seq, pos);
        if (format == Format.F32) {
            System.arraycopy(entry, from, f32[layer], at, width);
        } else {
            short[] s = bf16[layer];
            for (int i = 0; i < width; i++) s[at + i] = Bf16.fromFloat(entry[from + i]);
        }
    }

    /** Reads token {@code pos} of {@code seq} back as floats (latent, then rope key) into {@code out[at, at + width)}. */
    public void read(int layer, Sequence seq, int pos, float[] out, int at) {
        int from = offset(seq, pos);
        for (int i = 0; i < width; i++) {
            out[at + i] = format == Format.F32 ? f32[layer][from + i] : Bf16.toFloat(bf16[layer][from + i]);
        }
    }

    /** {@code qLatent · c_t + qPe · pe_t} for the entry at {@code at}. */
    public float score(int layer, int at, float[] qLatent, int latent0, float[] qPe, int pe0) {
        int rope = width - kvLoraRank;
        if (format == Format.F32) {
            float[] e = f32[layer];
            return Vectors.dot(qLatent, latent0, e, at, kvLoraRank) + Vectors.dot(qPe, pe0, e, at + kvLoraRank, rope);
        }
        short[] e = bf16[layer];
        return Vectors.dotBf16(qLatent, latent0, e, at, kvLoraRank) + Vectors.dotBf16(qPe, pe0, e, at + kvLoraRank, rope);
    }

    /**
     * {@link #score} of four queries against the entry at {@code at}, each bit for bit the same, the entry read once:
     * query j's latent part at {@code qLatent[offsets[j] ..]}, its rope part at {@code qPe[offsets[4 + j] ..]}; the
     * scores into {@code out[0 .. 4)} ({@code out} holds 8: the rope parts pass through {@code out[4 .. 8)}).
     */
    public void score4(int layer, int at, float[] qLatent, float[] qPe, int[] offsets, float[] out) {
        if (format == Format.F32) {
            for (int j = 0; j < 4; j++) out[j] = score(layer, at, qLatent, offsets[j], qPe, offsets[4 + j]);
            return;
        }
        short[] e = bf16[layer];
        Vectors.dotBf16x4(qLatent, offsets, 0, e, at, kvLoraRank, out, 0);
        Vectors.dotBf16x4(qPe, offsets, 4, e, at + kvLoraRank, width - kvLoraRank, out, 4);
        for (int j = 0; j < 4; j++) out[j] = out[j] + out[4 + j];
    }

    /**
     * Four heads' attended latents: {@code out[out0[j] ..] = Σ_t p[j · length + t] · c_t} over the entries at {@code
     * entries[0 .. length)}, t from 0 up, each element bit for bit what zeroing {@code out} and {@link #addLatent} per
     * entry and head give.
     */
    public void weightedLatents4(int layer, int[] entries, int length, float[] p, float[] out, int[] out0) {
        if (format == Format.BF16) {
            Vectors.weightedSumBf16x4(p, length, bf16[layer], entries, kvLoraRank, out, out0);
            return;
        }
        for (int j = 0; j < 4; j++) {
            Arrays.fill(out, out0[j], out0[j] + kvLoraRank, 0f);
            for (int t = 0; t < length; t++) {
                Vectors.axpy(p[j * length + t], f32[layer], entries[t], out, out0[j], kvLoraRank);
            }
        }
    }

    /** {@code out[out0 ..] += p · c_t} for the entry at {@code at}. */
    public void addLatent(int layer, int at, float p, float[] out, int out0) {
        if (format == Format.F32) {
            Vectors.axpy(p, f32[layer], at, out, out0, kvLoraRank);
        } else {
            Vectors.axpyBf16(p, bf16[layer], at, out, out0, kvLoraRank);
        }
    }
}
