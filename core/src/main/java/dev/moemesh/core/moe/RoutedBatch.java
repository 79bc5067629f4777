package dev.moemesh.core.moe;

/**
 * The token rows of one MoE layer grouped by routed expert, as they travel to whoever holds the experts.
 *
 * <p>Group {@code g < groups()} is expert {@code expertIds()[g]} with input rows {@code [groupStart()[g],
 * groupStart()[g+1])} of {@code input()}; {@code output()} has the same layout. Experts are in ascending id order and
 * each group's rows in ascending token order. Inputs and outputs carry bf16 values (the wire format), held in floats.
 * A forward pass refills one batch layer after layer ({@link Dispatcher#dispatch}), so its arrays may be longer than
 * the groups and rows in use: read them only up to {@code groups()} and {@code assignments()}.
 */
public final class RoutedBatch {
    private final int hidden;
    private int layer;
    private int groups;
    private int[] expertIds;  // (groups)
    private int[] groupStart; // (groups + 1)
    private int[] tokenRow;   // (assignments)
    private float[] weight;   // (assignments): the gate's weight of the row for the group's expert
    private float[] input;    // (assignments, hidden)
    private float[] output;   // (assignments, hidden)

    /** A batch of exactly these groups and rows. */
    public RoutedBatch(int layer, int hidden, int[] expertIds, int[] groupStart, int[] tokenRow, float[] input,
                       float[] output) {
        this.layer = layer;
        this.hidden = hidden;
        this.groups = expertIds.length;
        this.expertIds = expertIds;
        this.groupStart = groupStart;
        this.tokenRow = tokenRow;
        this.input = input;
        this.output = output;
        this.weight = new float[tokenRow.length];
    }

    /** An empty batch for {@link Dispatcher#dispatch} to fill, its arrays grown to the largest layer seen. */
    public static RoutedBatch reusable(int hidden) {
        return new RoutedBatch(0, hidden, new int[0], new int[1], new int[0], new float[0], new float[0]);
    }

    /** Makes room for {@code groups} groups of {@code assignments} rows in all and names the layer. */
    void reset(int layer, int groups, int assignments) {
        this.layer = layer;
        this.groups = groups;
        if (expertIds.length < groups) {
            expertIds = new int[groups];
            groupStart = new int[groups + 1];
        }
        if (tokenRow.length < assignments) {
            tokenRow = new int[assignments];
            weight = new float[assignments];
            input = new float[assignments * hidden];
            output = new float[assignments * hidden];
        }
    }

    float[] weights() {
        return weight;
    }

    public int layer() { return layer; }

    public int hidden() { return hidden; }

    public int[] expertIds() { return expertIds; }

    public int[] groupStart() { return groupStart; }

    public int[] tokenRow() { return tokenRow; }

    public float[] input() { return input; }

    public float[] output() { return output; }

    public int groups() {
        return groups;
    }

    public int assignments() {
        return groupStart[groups];
    }

    public int groupSize(int g) {
        return groupStart[g + 1] - groupStart[g];
    }
}
