package dev.moemesh.core.engine;

/**
 * What an engine holds, as of its last step.
 *
 * @param running         sequences in the batch
 * @param waiting         sequences queued for KV blocks or a batch slot
 * @param parked          of the running sequences, those set aside waiting for a routed expert to be served again
 * @param generatedTokens tokens sampled since start
 * @param prefillTokens   prompt tokens run since start
 * @param speculation     speculative decoding's counts since start (all 0 when it is off)
 */
public record EngineStats(int running, int waiting, int parked, int kvBlocksTotal, int kvBlocksUsed, int kvBlockTokens,
                          long generatedTokens, long prefillTokens, Speculation speculation) {

    /**
     * @param speculativeTokens drafts per sequence and step, as configured (0: off)
     * @param drafted           drafted tokens the main model verified
     * @param accepted          of those, the ones it accepted
     * @param decodeSteps       steps of a decoding sequence (each yields its main-model token and accepted drafts)
     */
    public record Speculation(int speculativeTokens, long drafted, long accepted, long decodeSteps) {
        /** Accepted over drafted; 0 before any draft. */
        public double acceptanceRate() {
            return drafted == 0 ? 0 : (double) accepted / drafted;
        }

        /** Tokens a decoding sequence gained per step: 1 plus its accepted drafts, on average; 0 before any step. */
        public double tokensPerStep() {
            return decodeSteps == 0 ? 0 : (double) (decodeSteps + accepted) / decodeSteps;
        }
    }
}
