package dev.moemesh.core.moe;

/**
 * The token rows of one MoE layer grouped by routed expert, as they travel to whoever holds the experts.
 *
 * <p>Group {@code g} is expert {@code expertIds[g]} with input rows {@code [groupStart[g], groupStart[g+1])} of
 * {@code input}; {@code output} has the same layout. Experts are in ascending id order and each group's rows in
 * ascending token order. Inputs and outputs carry bf16 values (the wire format), held in floats.
 */
public record RoutedBatch(int layer, int hidden, int[] expertIds, int[] groupStart, int[] tokenRow,
                          float[] input, float[] output) { // input, output: (assignments, hidden); tokenRow: (assignments)

    public int groups() {
        return expertIds.length;
    }

    public int assignments() {
        return groupStart[expertIds.length];
    }

    public int groupSize(int g) {
        return groupStart[g + 1] - groupStart[g];
    }
}
