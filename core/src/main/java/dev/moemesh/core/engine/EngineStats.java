package dev.moemesh.core.engine;

/**
 * What an engine holds, as of its last step.
 *
 * @param running         sequences in the batch
 * @param waiting         sequences queued for KV blocks or a batch slot
 * @param generatedTokens tokens sampled since start
 * @param prefillTokens   prompt tokens run since start
 */
public record EngineStats(int running, int waiting, int kvBlocksTotal, int kvBlocksUsed, int kvBlockTokens,
                          long generatedTokens, long prefillTokens) {
}
