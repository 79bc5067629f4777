package dev.moemesh.core.model;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * MLA's compressed KV cache, paged: per layer and token it keeps the normalised latent {@code c_kv}
 * (kv_lora_rank floats) followed by the rotated rope key (qk_rope_head_dim floats). Storage is cut into
 * fixed-size blocks; each sequence owns a block table, so sequences of any length share one pool and
 * a finished sequence returns its blocks at once.
 */
public final class LatentKvCache {
    private final int blockTokens;
    private final int width;                // kv_lora_rank + qk_rope_head_dim
    private final float[][] storage;        // (layer) -> (block, blockTokens, width)
    private final ArrayDeque<Integer> freeBlocks = new ArrayDeque<>();
    private final int totalBlocks;

    /** One sequence's view of the cache: its block table. */
    public static final class Sequence {
        private int[] blocks = new int[4];
        private int blockCount;
    }

    public LatentKvCache(int layers, int kvLoraRank, int ropeDim, int blockTokens, int totalBlocks) {
        long floatsPerLayer = (long) totalBlocks * blockTokens * (kvLoraRank + ropeDim);
        if (floatsPerLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + totalBlocks + " blocks x " + blockTokens
                    + " tokens is too large for one layer's array; lower the block count");
        }
        this.blockTokens = blockTokens;
        this.width = kvLoraRank + ropeDim;
        this.totalBlocks = totalBlocks;
        this.storage = new float[layers][(int) floatsPerLayer];
        for (int b = 0; b < totalBlocks; b++) freeBlocks.add(b);
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

    /** The array holding {@code layer}'s entries. */
    public float[] layer(int layer) {
        return storage[layer];
    }

    /** Offset in {@link #layer} of the entry for token {@code pos} of {@code seq}. */
    public int offset(Sequence seq, int pos) {
        return (seq.blocks[pos / blockTokens] * blockTokens + pos % blockTokens) * width;
    }
}
