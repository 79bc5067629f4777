package dev.moemesh.core.engine;

/**
 * Sizes of the continuous-batching engine.
 *
 * @param maxBatchTokens    token rows one step may hold (decode rows, drafts to verify, prefill chunks)
 * @param prefillChunk      most prompt tokens of one sequence in one step, so a long prompt never stalls decoding
 * @param maxSequences      sequences running at once; more wait
 * @param kvBlockTokens     tokens per KV cache block
 * @param kvBlocks          blocks in the KV cache pool
 * @param microBatches      1, or 2 to split each step into two micro-batches (whole sequences each) that take turns
 *                          on the cores: one computes while the other's routed experts are away (worth it only when
 *                          the experts are remote)
 * @param speculativeTokens tokens the model's multi-token-prediction module drafts for each sequence, verified by
 *                          the next step; 0 turns speculative decoding off
 * @param speculativeMinAcceptance the share of its drafts a sequence must have accepted, once it has drafted
 *                          {@link #SPECULATION_JUDGED_AFTER} tokens, to go on drafting: below it the sequence decodes
 *                          one token a step from then on (its drafts cost a step more than they save); 0 never stops
 * @param speculativeMaxBatch a greedy sequence admitted while more than this many sequences are in the engine
 *                          (running and waiting, itself included) never drafts: where a verify step's extra rows
 *                          cost compute (a CPU at batch 16 and more), drafting loses. Sampled sequences draft
 *                          whatever the load, so that their seed reproduces their answer; 0 sets no limit
 */
public record EngineOptions(int maxBatchTokens, int prefillChunk, int maxSequences, int kvBlockTokens, int kvBlocks,
                            int microBatches, int speculativeTokens, double speculativeMinAcceptance,
                            int speculativeMaxBatch) {

    /** Drafted tokens after which a sequence's acceptance is judged ({@link #speculativeMinAcceptance}). */
    public static final int SPECULATION_JUDGED_AFTER = 16;
    /** Drafting goes on while at least this share is accepted: it stops drafts that are all but never right. */
    public static final double DEFAULT_SPECULATIVE_MIN_ACCEPTANCE = 0.3;

    public EngineOptions(int maxBatchTokens, int prefillChunk, int maxSequences, int kvBlockTokens, int kvBlocks,
                         int microBatches, int speculativeTokens) {
        this(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, microBatches, speculativeTokens,
                DEFAULT_SPECULATIVE_MIN_ACCEPTANCE, 0);
    }

    public EngineOptions(int maxBatchTokens, int prefillChunk, int maxSequences, int kvBlockTokens, int kvBlocks) {
        this(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, 1, 0);
    }

    public EngineOptions(int maxBatchTokens, int prefillChunk, int maxSequences, int kvBlockTokens, int kvBlocks,
                         int microBatches) {
        this(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, microBatches, 0);
    }

    public EngineOptions {
        if (maxBatchTokens < 1 || prefillChunk < 1 || maxSequences < 1 || kvBlockTokens < 1 || kvBlocks < 1) {
            throw new IllegalArgumentException("engine sizes must be positive: " + maxBatchTokens + ", " + prefillChunk
                    + ", " + maxSequences + ", " + kvBlockTokens + ", " + kvBlocks);
        }
        if (microBatches != 1 && microBatches != 2) {
            throw new IllegalArgumentException("micro-batches must be 1 or 2, got " + microBatches);
        }
        if (!(speculativeMinAcceptance >= 0 && speculativeMinAcceptance <= 1)) {
            throw new IllegalArgumentException("the least acceptance to go on drafting must be in [0, 1], got "
                    + speculativeMinAcceptance);
        }
        if (speculativeMaxBatch < 0) {
            throw new IllegalArgumentException("the most sequences at which greedy ones draft must be 0 (no limit) or"
                    + " more, got " + speculativeMaxBatch);
        }
        if (speculativeTokens < 0) {
            throw new IllegalArgumentException("speculative tokens must be 0 (off) or more, got " + speculativeTokens);
        }
        // a sequence's drafts never depend on the batch (that would change a seeded sample), so all must fit
        if ((long) maxSequences * (1 + speculativeTokens) > maxBatchTokens) {
            throw new IllegalArgumentException("max sequences (" + maxSequences + ") x (1 + speculative tokens ("
                    + speculativeTokens + ")) cannot exceed max batch tokens (" + maxBatchTokens
                    + "): every running sequence needs a row per step for its last token and one per draft");
        }
    }

    /** 512-token steps, 256-token prefill chunks, 64 sequences, a KV pool of 32768 tokens. */
    public static EngineOptions defaults() {
        return new EngineOptions(512, 256, 64, 16, 2048);
    }

    public EngineOptions withPrefillChunk(int tokens) {
        return new EngineOptions(maxBatchTokens, tokens, maxSequences, kvBlockTokens, kvBlocks, microBatches,
                speculativeTokens, speculativeMinAcceptance, speculativeMaxBatch);
    }

    public EngineOptions withMicroBatches(int count) {
        return new EngineOptions(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, count,
                speculativeTokens, speculativeMinAcceptance, speculativeMaxBatch);
    }

    public EngineOptions withSpeculativeTokens(int tokens) {
        return new EngineOptions(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, microBatches,
                tokens, speculativeMinAcceptance, speculativeMaxBatch);
    }

    public EngineOptions withSpeculativeMinAcceptance(double share) {
        return new EngineOptions(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, microBatches,
                speculativeTokens, share, speculativeMaxBatch);
    }

    public EngineOptions withSpeculativeMaxBatch(int sequences) {
        return new EngineOptions(maxBatchTokens, prefillChunk, maxSequences, kvBlockTokens, kvBlocks, microBatches,
                speculativeTokens, speculativeMinAcceptance, sequences);
    }
}
