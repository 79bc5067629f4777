package dev.moemesh.cuda;

import java.nio.ByteBuffer;

/**
 * The groups of one routed batch as the kernels read them ({@code struct Group} in experts.cu, 32 bytes each):
 * decode-sized groups first, for the bandwidth-bound kernels, then the larger ones, for the tensor-core kernels,
 * each with the number of 128-row tiles before it. Empty groups are left out.
 */
final class GroupTable {
    /** Groups of at most this many rows take the bandwidth-bound path (the kernels are unrolled up to it). */
    static final int SMALL_ROWS = 8;
    /** Rows of one tensor-core tile. */
    static final int TILE_ROWS = 128;
    static final int ENTRY_BYTES = 32;

    private final int[] groupOf;   // (entries): the batch group of each entry
    private final int[] rowStart;  // (entries)
    private final int[] rows;      // (entries)
    private final int[] tileStart; // (entries): 0 for small entries
    private final int small;
    private final int tiles;

    private GroupTable(int[] groupOf, int[] rowStart, int[] rows, int[] tileStart, int small, int tiles) {
        this.groupOf = groupOf;
        this.rowStart = rowStart;
        this.rows = rows;
        this.tileStart = tileStart;
        this.small = small;
        this.tiles = tiles;
    }

    /**
     * Plans the table of a batch of {@code groups} groups, group {@code g} with rows {@code [groupStart[g],
     * groupStart[g+1])}. Entries of {@code groupStart} past {@code groups} are ignored: the engine's reusable
     * batches keep their arrays at the largest layer seen, with stale values there.
     */
    static GroupTable plan(int[] groupStart, int groups) {
        int entries = 0;
        int small = 0;
        for (int g = 0; g < groups; g++) {
            int n = groupStart[g + 1] - groupStart[g];
            if (n > 0) entries++;
            if (n > 0 && n <= SMALL_ROWS) small++;
        }
        int[] groupOf = new int[entries];
        int[] rowStart = new int[entries];
        int[] rows = new int[entries];
        int[] tileStart = new int[entries];
        int nextSmall = 0;
        int nextLarge = small;
        int tiles = 0;
        for (int g = 0; g < groups; g++) {
            int n = groupStart[g + 1] - groupStart[g];
            if (n == 0) continue;
            int e = n <= SMALL_ROWS ? nextSmall++ : nextLarge++;
            groupOf[e] = g;
            rowStart[e] = groupStart[g];
            rows[e] = n;
            if (n > SMALL_ROWS) {
                tileStart[e] = tiles;
                tiles += (n + TILE_ROWS - 1) / TILE_ROWS;
            }
        }
        return new GroupTable(groupOf, rowStart, rows, tileStart, small, tiles);
    }

    int entries() {
        return groupOf.length;
    }

    /** Entries {@code [0, small())} are the decode-sized groups. */
    int small() {
        return small;
    }

    int large() {
        return groupOf.length - small;
    }

    /** 128-row tiles over all large groups. */
    int tiles() {
        return tiles;
    }

    int bytes() {
        return groupOf.length * ENTRY_BYTES;
    }

    /** The batch group that entry {@code e} stands for. */
    int group(int e) {
        return groupOf[e];
    }

    int rows(int e) {
        return rows[e];
    }

    int tileStart(int e) {
        return tileStart[e];
    }

    /**
     * Writes the entries at {@code out}'s position (little-endian), with the device addresses of each batch
     * group's weights: {@code w13[g]} (gate rows over up rows) and {@code w2[g]} (down).
     */
    void write(ByteBuffer out, long[] w13, long[] w2) {
        for (int e = 0; e < groupOf.length; e++) {
            int g = groupOf[e];
            out.putLong(w13[g]).putLong(w2[g]).putInt(rowStart[e]).putInt(rows[e]).putInt(tileStart[e]).putInt(0);
        }
    }
}
