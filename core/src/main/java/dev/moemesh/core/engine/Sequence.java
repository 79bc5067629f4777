package dev.moemesh.core.engine;

import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.moe.ExpertOutage;
import dev.moemesh.core.moe.ExpertsUnservedException;

import java.util.Arrays;

/** A request in the engine: its prompt's progress, the tokens generated so far and its timings. */
final class Sequence {
    final GenerationRequest request;
    final TokenListener listener;
    final Sampler sampler;
    LatentKvCache.Sequence kv; // null while waiting and once finished
    int prefilled;
    int[] generated = new int[16];
    int generatedCount;
    long started;
    long firstToken;
    int[] drafts = new int[0]; // the MTP module's guesses at the tokens after the last one, verified by the next step
    int draftCount;
    double[][] draftDistributions = new double[0][]; // sampled sequences: each draft's distribution, dense (vocab)
    boolean mayDraft = true; // false: a greedy sequence admitted above EngineOptions.speculativeMaxBatch
    int drafted;  // tokens this sequence drafted, and of those the main model accepted
    int accepted;
    // set aside for want of routed experts (BatchingEngine)
    ExpertOutage outage;     // not null: set aside until it is worth trying again
    ExpertOutage waitedFor;  // the outage it last waited for, until a step runs it through every layer
    long parkedSince;        // nanoTime of the step that first set it aside; 0 when it is not waiting
    int chunkFrom;           // this step: where its prompt chunk began, -1 when it decoded
    ExpertsUnservedException missed; // this step: why its rows missed an expert, while the engine sorts them

    Sequence(GenerationRequest request, TokenListener listener) {
        this.request = request;
        this.listener = listener;
        this.sampler = new Sampler(request.sampling());
    }

    int promptLength() {
        return request.promptIds().length;
    }

    boolean decoding() {
        return prefilled == promptLength();
    }

    /** The token at {@code position} of the sequence: the prompt's, then the generated ones. */
    int tokenAt(int position) {
        return position < promptLength() ? request.promptIds()[position] : generated[position - promptLength()];
    }

    /** Prompt plus generated tokens. */
    int length() {
        return promptLength() + generatedCount;
    }

    void append(int token) {
        if (generatedCount == generated.length) generated = Arrays.copyOf(generated, generatedCount * 2);
        generated[generatedCount++] = token;
    }

    /** Whether {@code token} ends the sequence: eos (unless ignored) or one of its stop tokens. */
    boolean isStop(int token, int eosTokenId) {
        SamplingParams p = request.sampling();
        if (!p.ignoreEos() && token == eosTokenId) return true;
        for (int stop : p.stopIds()) if (stop == token) return true;
        return false;
    }

    /** The outcome as of {@code now}. */
    Generation generation(FinishReason reason, long now, String error) {
        long prefill = firstToken == 0 ? (started == 0 ? 0 : now - started) : firstToken - started;
        long decode = firstToken == 0 ? 0 : now - firstToken;
        return new Generation(request.id(), Arrays.copyOf(generated, generatedCount), reason, promptLength(),
                prefill, decode, error);
    }
}
