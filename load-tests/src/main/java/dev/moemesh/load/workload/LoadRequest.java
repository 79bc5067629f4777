package dev.moemesh.load.workload;

/** A request as every door sends it: greedy, {@code maxTokens} generated exactly (EOS ignored), by token ids. */
public record LoadRequest(String id, int[] promptIds, int maxTokens) {
}
