package dev.moemesh.core.model;

/**
 * The token rows of one forward step: for each row, its token, its position and the sequence whose cache it
 * extends, plus the rotary angles of that position. Rows of one sequence appear in position order.
 */
public final class StepRows {
    private final int count;
    private final int[] tokens;                      // (rows)
    private final int[] positions;                   // (rows)
    private final LatentKvCache.Sequence[] sequences; // (rows)
    private final float[] cos;                       // (rows, rope_dim / 2)
    private final float[] sin;                       // (rows, rope_dim / 2)
    private final float softmaxScale;
    private final int maxPosition;

    public StepRows(int[] tokens, int[] positions, LatentKvCache.Sequence[] sequences, int count, RotaryEmbedding rope,
                    int ropeDim) {
        this.count = count;
        this.tokens = tokens;
        this.positions = positions;
        this.sequences = sequences;
        this.cos = new float[count * ropeDim / 2];
        this.sin = new float[count * ropeDim / 2];
        int max = 0;
        for (int r = 0; r < count; r++) {
            rope.angles(positions[r], cos, sin, r * ropeDim / 2);
            max = Math.max(max, positions[r]);
        }
        this.maxPosition = max;
        this.softmaxScale = rope.softmaxScale();
    }

    public int count() { return count; }

    public int token(int r) { return tokens[r]; }

    public int position(int r) { return positions[r]; }

    public LatentKvCache.Sequence sequence(int r) { return sequences[r]; }

    public float[] cos() { return cos; }

    public float[] sin() { return sin; }

    public float softmaxScale() { return softmaxScale; }

    public int maxPosition() { return maxPosition; }
}
