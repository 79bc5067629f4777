package dev.moemesh.core.engine;

import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.MultiTokenPredictor;
import dev.moemesh.core.model.StepRows;
import dev.moemesh.core.model.Workspace;
import dev.moemesh.core.moe.ExpertOutage;
import dev.moemesh.core.moe.ExpertsUnservedException;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Continuous batching of many sequences over one {@link Model}: the single-process engine, and the attention
 * service's with its routed experts remote.
 *
 * <p>Each step takes one decode row from every running sequence that has finished its prompt, fills the rest of
 * the step's rows with prompt chunks (chunked prefill, at most {@code prefillChunk} tokens of one sequence per
 * step), runs the model once over all rows and samples for the rows that end a prompt or decode. Sequences join
 * and leave between steps. Every row's math is independent of the other rows, so a sequence's tokens do not depend
 * on what else is in the batch. Requests may be submitted and cancelled from any thread; {@link #step} runs on one.
 *
 * <p>With {@code speculativeTokens} k &gt; 0 (speculative decoding), the model's multi-token-prediction module drafts
 * up to k tokens after each greedy sequence's last one at the end of every step. The next step verifies them in the
 * same pass as everything else: the sequence's rows are its last token and its drafts, the main model's token after
 * each row is taken in order while it equals the next draft, and one more (the main model's own) ends the run, so the
 * tokens are exactly those of decoding one at a time. Rejected drafts' cache entries are simply written over later
 * (attention reads a sequence's cache only up to each row's position). The module runs, after sampling, on every
 * row whose following token is now known, so its own latent-cache layer holds every position, as in DeepSeek-V3.
 * Sampled sequences draft by sampling the module's distribution q and keep each draft by the speculative-sampling
 * rule ({@link Sampler#speculate}), so their tokens are distributed as without drafts; their seed still reproduces
 * their answer (an answer of its own: the stream is drawn in another order than without drafts).
 *
 * <p>A routed expert that no holder serves now ({@link ExpertsUnservedException}, from a remote backend) costs only
 * the sequences routed to it: the step goes on for the others, which are exact, and those sequences are set aside
 * (parked) with their step undone: no token, their prompt chunk to run again. Their cache entries for it are written
 * over when they run again. They run again when their {@link ExpertOutage} says it is worth it (a newer placement, a
 * holder that may be back) and end with its error once they have waited longer than its timeout in all; a cancel
 * ends them at the next step. Sequences the backend says cannot wait (no outage) end at once with its error.
 */
public final class BatchingEngine {
    private final Model model;
    private final EngineOptions options;
    private final LatentKvCache cache;
    private final Workspace workspace = new Workspace();
    private final Queue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final Queue<String> cancellations = new ConcurrentLinkedQueue<>();
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final int[] rowTokens;
    private final int[] rowPositions;
    private final LatentKvCache.Sequence[] rowSequences;
    private final Sequence[] rowOwner;
    private final int[] logitRows;
    private final Sequence[] logitOwner;
    private float[] logits = new float[0];
    private final TwoMicroBatches microBatches; // used when EngineOptions.microBatches == 2
    private volatile EngineStats stats;
    private long generatedTokens;
    private long prefillTokens;
    // speculative decoding (mtp == null when off)
    private final MultiTokenPredictor mtp;
    private final int[] mtpTokens;
    private final int[] mtpPositions;
    private final LatentKvCache.Sequence[] mtpSequences;
    private final int[] mtpLogitRows;
    private final Sequence[] mtpLogitOwner;
    private float[] mainNormed = new float[0]; // (rows, hidden): the main model's final-normed states
    private float[] mtpIn = new float[0];      // (rows, hidden): the states the module reads
    private float[] mtpOut = new float[0];     // (rows, hidden): the module's own output states, for chained drafts
    private float[] draftLogits = new float[0];
    private long drafted;
    private long accepted;
    private long decodeSteps;
    /** How long a step with every running sequence set aside sleeps before looking at them again. */
    private static final long PARKED_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    public BatchingEngine(Model model, EngineOptions options) {
        this.model = model;
        this.options = options;
        this.cache = model.newCache(options.kvBlockTokens(), options.kvBlocks());
        this.microBatches = new TwoMicroBatches(model, cache);
        int rows = options.maxBatchTokens();
        rowTokens = new int[rows];
        rowPositions = new int[rows];
        rowSequences = new LatentKvCache.Sequence[rows];
        rowOwner = new Sequence[rows];
        logitRows = new int[rows];
        logitOwner = new Sequence[rows];
        if (options.speculativeTokens() > 0) {
            mtp = model.mtp().orElseThrow(() -> new IllegalArgumentException("speculative tokens ("
                    + options.speculativeTokens() + ") need the model's multi-token-prediction module: load the model"
                    + " with ModelOptions.withMtp(true), from a checkpoint that has one (num_nextn_predict_layers)"));
        } else {
            mtp = null;
        }
        mtpTokens = new int[rows];
        mtpPositions = new int[rows];
        mtpSequences = new LatentKvCache.Sequence[rows];
        mtpLogitRows = new int[rows];
        mtpLogitOwner = new Sequence[rows];
        publishStats();
    }

    /** Counts as of the last step's end; safe to read from any thread. */
    public EngineStats stats() {
        return stats;
    }

    private void publishStats() {
        int parked = 0;
        for (Sequence s : running) if (s.parkedSince != 0) parked++;
        stats = new EngineStats(running.size(), waiting.size() + incoming.size(), parked, cache.totalBlocks(),
                cache.totalBlocks() - cache.freeBlocks(), cache.blockTokens(), generatedTokens, prefillTokens,
                new EngineStats.Speculation(options.speculativeTokens(), drafted, accepted, decodeSteps));
    }

    public LatentKvCache cache() {
        return cache;
    }

    /**
     * Queues a request; its tokens and end go to {@code listener}.
     *
     * @throws IllegalArgumentException when the request can never run here ({@link #check})
     */
    public void submit(GenerationRequest request, TokenListener listener) {
        check(request);
        incoming.add(new Sequence(request, listener));
    }

    /**
     * Whether this engine can ever run the request, without queueing it.
     *
     * @throws IllegalArgumentException when it cannot: a token outside the vocabulary, or a prompt plus max_tokens
     *                                  longer than the served context or the KV cache
     */
    public void check(GenerationRequest request) {
        int vocab = model.config().vocabSize();
        for (int t : request.promptIds()) {
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("request " + request.id() + ": prompt token id " + t
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        long total = (long) request.promptIds().length + request.sampling().maxTokens();
        if (total > model.maxSeqLen()) {
            throw new IllegalArgumentException("request " + request.id() + ": prompt (" + request.promptIds().length
                    + " tokens) + max_tokens (" + request.sampling().maxTokens() + ") exceeds the served context of "
                    + model.maxSeqLen() + " tokens");
        }
        if (cache.blocksFor((int) total) > cache.totalBlocks()) {
            throw new IllegalArgumentException("request " + request.id() + ": prompt + max_tokens = " + total
                    + " tokens exceeds the KV cache (" + cache.totalBlocks() * cache.blockTokens() + " tokens)");
        }
    }

    /** Ends request {@code id} at the next step boundary with finish reason CANCELLED. */
    public void cancel(String id) {
        cancellations.add(id);
    }

    /** Whether any request is queued or running. */
    public boolean hasWork() {
        return !incoming.isEmpty() || !waiting.isEmpty() || !running.isEmpty();
    }

    /** Runs every request to its end, batched together, and returns their generations in request order. */
    public List<Generation> generate(List<GenerationRequest> requests) {
        Map<String, Generation> done = new HashMap<>();
        for (GenerationRequest r : requests) submit(r, g -> done.put(g.id(), g));
        while (hasWork()) step();
        List<Generation> out = new ArrayList<>();
        for (GenerationRequest r : requests) out.add(done.get(r.id()));
        return out;
    }

    /** One engine step: admit, assemble rows, run the model, sample, retire finished sequences. */
    public void step() {
        for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
        applyCancellations();
        reviewParked(System.nanoTime());
        admit();
        if (running.isEmpty()) {
            publishStats();
            return;
        }

        int rows = 0;
        int logitCount = 0;
        int sequences = 0;
        for (Sequence s : running) {
            if (!s.decoding() || s.outage != null) continue;
            int last = s.length() - 1;
            s.chunkFrom = -1;
            sequences++;
            rows = addRow(rows, s, s.tokenAt(last), last);
            logitRows[logitCount] = rows - 1;
            logitOwner[logitCount++] = s;
            for (int d = 0; d < s.draftCount; d++) {
                rows = addRow(rows, s, s.drafts[d], last + 1 + d);
                logitRows[logitCount] = rows - 1;
                logitOwner[logitCount++] = s;
            }
            decodeSteps++;
        }
        for (Sequence s : running) {
            if (s.decoding() || s.outage != null || rows == options.maxBatchTokens()) continue;
            int chunk = Math.min(Math.min(options.prefillChunk(), s.promptLength() - s.prefilled),
                    options.maxBatchTokens() - rows);
            s.chunkFrom = s.prefilled;
            sequences++;
            for (int i = 0; i < chunk; i++) rows = addRow(rows, s, s.request.promptIds()[s.prefilled + i], s.prefilled + i);
            s.prefilled += chunk;
            prefillTokens += chunk;
            if (s.decoding()) {
                logitRows[logitCount] = rows - 1;
                logitOwner[logitCount++] = s;
            }
        }

        if (rows == 0) { // every running sequence is set aside: nothing to run until one may run again
            publishStats();
            LockSupport.parkNanos(PARKED_POLL_NANOS);
            return;
        }

        int vocab = model.config().vocabSize();
        if (logits.length < logitCount * vocab) logits = new float[logitCount * vocab];
        StepRows step = new StepRows(rowTokens, rowPositions, rowSequences, rows, model.rope(), model.config().qkRopeHeadDim());
        float[] normed = null;
        if (mtp != null) {
            int hidden = model.config().hiddenSize();
            if (mainNormed.length < rows * hidden) mainNormed = new float[rows * hidden];
            normed = mainNormed;
        }
        try {
            int split = options.microBatches() == 2 ? TwoMicroBatches.sequenceBoundaryNearMiddle(rowOwner, rows) : 0;
            if (split > 0) {
                microBatches.forward(rowTokens, rowPositions, rowSequences, rows, split, logitRows, logitCount,
                        workspace, logits, vocab, normed);
            } else {
                model.forward(step, cache, workspace, logitRows, logitCount, logits, normed);
            }
        } catch (RuntimeException e) {
            failStep(rows, e);
            return;
        }

        long now = System.nanoTime();
        if (workspace.anyUnserved()) setAside(rows, sequences, now);
        healed(rows, now);
        for (int i = 0; i < logitCount; ) {
            Sequence s = logitOwner[i];
            int group = 1 + s.draftCount; // the row of its last token, then one per draft
            if (s.kv == null || s.outage != null) { // ended or set aside in this step: nothing to sample
                i += group;
                continue;
            }
            int kept = 0;
            for (int c = 0; c < group; c++) {
                int token;
                if (c == group - 1) {
                    token = s.sampler.sample(logits, (i + c) * vocab, vocab);
                } else if (s.sampler.isGreedy()) {
                    token = Sampler.argmax(logits, (i + c) * vocab, vocab);
                } else {
                    token = s.sampler.speculate(s.sampler.distribution(logits, (i + c) * vocab, vocab),
                            s.draftDistributions[c], s.drafts[c]);
                }
                if (!emit(s, token, (i + c) * vocab, now) || c == group - 1 || token != s.drafts[c]) break;
                kept++;
            }
            drafted += s.draftCount;
            accepted += kept;
            s.drafted += s.draftCount;
            s.accepted += kept;
            s.draftCount = 0;
            i += group;
        }
        if (mtp != null) {
            try {
                draft(rows);
            } catch (RuntimeException e) {
                failStep(rows, e);
                return;
            }
        }
        running.removeIf(s -> s.kv == null);
        Arrays.fill(rowOwner, 0, rows, null);
        Arrays.fill(rowSequences, 0, rows, null);
        Arrays.fill(logitOwner, 0, logitCount, null);
        publishStats();
    }

    /**
     * Sets aside the sequences with a row that missed an expert in this step: their step is undone (no token; their
     * prompt chunk runs again) and they wait for their outage, or end now with the error when it cannot be waited for.
     * Each outage hears how many it set aside and how many of the step's {@code sequences} went on.
     */
    private void setAside(int rows, int sequences, long now) {
        for (int r = 0; r < rows; r++) {
            ExpertsUnservedException why = workspace.unserved(r);
            if (why == null) continue;
            Sequence s = rowOwner[r];
            if (s.missed == null || (s.missed.outage() != null && why.outage() == null)) s.missed = why;
        }
        Map<ExpertOutage, int[]> parked = new IdentityHashMap<>(); // outage -> {first time, again}
        int affected = 0;
        for (int r = 0; r < rows; r++) {
            Sequence s = rowOwner[r];
            ExpertsUnservedException why = s.missed;
            if (why == null) continue;
            s.missed = null;
            affected++;
            if (s.chunkFrom >= 0) {
                prefillTokens -= s.prefilled - s.chunkFrom;
                s.prefilled = s.chunkFrom;
            } else {
                decodeSteps--;
            }
            if (why.outage() == null) {
                finish(s, FinishReason.ERROR, now, why.getMessage());
                continue;
            }
            int[] counts = parked.computeIfAbsent(why.outage(), o -> new int[2]);
            if (s.parkedSince == 0) {
                s.parkedSince = now;
                counts[0]++;
            } else {
                counts[1]++;
            }
            s.outage = why.outage();
            s.waitedFor = why.outage();
        }
        for (Map.Entry<ExpertOutage, int[]> e : parked.entrySet()) {
            e.getKey().parked(e.getValue()[0], e.getValue()[1], sequences - affected);
        }
    }

    /** Sequences that had waited and ran every layer of this step: healed. */
    private void healed(int rows, long now) {
        for (int r = 0; r < rows; r++) {
            Sequence s = rowOwner[r];
            if (s.parkedSince == 0 || s.outage != null || s.kv == null) continue;
            s.waitedFor.healed(now - s.parkedSince);
            s.parkedSince = 0;
            s.waitedFor = null;
        }
    }

    /**
     * Before a step: a set-aside sequence that has waited longer than its outage's timeout ends with its error; one
     * whose outage says it is worth it runs again in this step (it keeps waiting until a step runs it through).
     */
    private void reviewParked(long now) {
        boolean ended = false;
        for (Sequence s : running) {
            if (s.outage == null) continue;
            long waited = now - s.parkedSince;
            if (waited >= s.outage.timeout().toNanos()) {
                finish(s, FinishReason.ERROR, now, s.outage.gaveUp(waited));
                ended = true;
            } else if (s.outage.worthRetrying()) {
                s.outage = null;
            }
        }
        if (ended) running.removeIf(s -> s.kv == null);
    }

    /**
     * Hands {@code token}, chosen from the logits at {@code logitOffset}, to {@code s}; false when it ends the
     * sequence (a stop token, or max_tokens reached).
     */
    private boolean emit(Sequence s, int token, int logitOffset, long now) {
        if (s.generatedCount == 0) s.firstToken = now;
        if (s.isStop(token, model.config().eosTokenId())) {
            finish(s, FinishReason.STOP, now, null);
            return false;
        }
        s.append(token);
        generatedTokens++;
        SamplingParams p = s.request.sampling();
        int vocab = model.config().vocabSize();
        s.listener.onToken(s.request.id(), token, p.wantsLogprobs()
                ? TokenLogprobs.of(logits, logitOffset, vocab, token, p.logprobs()) : null);
        if (s.generatedCount == s.request.sampling().maxTokens()) {
            finish(s, FinishReason.LENGTH, now, null);
            return false;
        }
        return true;
    }

    /**
     * Whether {@code s} drafts: speculation is on, it was admitted to draft ({@link #admit}), it is still running, and
     * its drafts have been accepted often enough ({@link EngineOptions#speculativeMinAcceptance}). A sequence that
     * stopped never drafts again, so the module's cache layer, no longer written for it, is never read for it either.
     */
    private boolean drafts(Sequence s) {
        return mtp != null && s.mayDraft && s.kv != null && s.outage == null && !draftsRarelyAccepted(s);
    }

    /**
     * Whether {@code s} has drafted enough to judge and too few were accepted. Its own history alone decides, so a seed
     * still reproduces its answer; once true it stays so (a sequence that does not draft adds to neither count).
     */
    private boolean draftsRarelyAccepted(Sequence s) {
        return s.drafted >= EngineOptions.SPECULATION_JUDGED_AFTER
                && s.accepted < options.speculativeMinAcceptance() * s.drafted;
    }

    /** The module's guess from {@code draftLogits} row {@code row}: its argmax, or for a sampled sequence a draw. */
    private int guess(Sequence s, int row, int depth, int vocab) {
        if (s.sampler.isGreedy()) return Sampler.argmax(draftLogits, row * vocab, vocab);
        Sampler.Distribution q = s.sampler.distribution(draftLogits, row * vocab, vocab);
        if (s.draftDistributions.length <= depth) s.draftDistributions = new double[options.speculativeTokens()][];
        s.draftDistributions[depth] = q.dense(vocab);
        return s.sampler.draw(q);
    }

    /**
     * Runs the MTP module on every row of this step whose next token is now known (row at position i, token i + 1:
     * the pairs DeepSeek-V3 trains it on), which fills its cache layer, and takes a sequence's first draft from its
     * row at the second-to-last position; further drafts chain the module on its own output, one row per sequence.
     */
    private void draft(int rows) {
        int hidden = model.config().hiddenSize();
        if (mtpIn.length < rows * hidden) {
            mtpIn = new float[rows * hidden];
            mtpOut = new float[rows * hidden];
        }
        int n = 0;
        int wanted = 0;
        for (int r = 0; r < rows; r++) {
            Sequence s = rowOwner[r];
            int position = rowPositions[r];
            if (!drafts(s) || position + 1 >= s.length()) continue; // rejected drafts and last tokens have no next
            mtpTokens[n] = s.tokenAt(position + 1);
            mtpPositions[n] = position;
            mtpSequences[n] = s.kv;
            System.arraycopy(mainNormed, r * hidden, mtpIn, n * hidden, hidden);
            int draftable = Math.min(options.speculativeTokens(), s.request.sampling().maxTokens() - s.generatedCount - 1);
            if (position + 2 == s.length() && s.decoding() && draftable > 0) {
                if (s.drafts.length < draftable) s.drafts = new int[options.speculativeTokens()];
                mtpLogitRows[wanted] = n;
                mtpLogitOwner[wanted++] = s;
            }
            n++;
        }
        if (n == 0) return;
        int vocab = model.config().vocabSize();
        if (draftLogits.length < wanted * vocab) draftLogits = new float[wanted * vocab];
        mtp.forward(new StepRows(mtpTokens, mtpPositions, mtpSequences, n, model.rope(), model.config().qkRopeHeadDim()),
                mtpIn, cache, workspace, mtpLogitRows, wanted, draftLogits, mtpOut);
        int served = 0;
        for (int q = 0; q < wanted; q++) {
            Sequence s = mtpLogitOwner[q];
            if (workspace.unserved(mtpLogitRows[q]) != null) continue; // the module missed an expert: no draft now
            s.drafts[0] = guess(s, q, 0, vocab);
            s.draftCount = 1;
            mtpLogitRows[served] = mtpLogitRows[q];
            mtpLogitOwner[served++] = s;
        }
        Arrays.fill(mtpLogitOwner, served, wanted, null);
        wanted = served;
        // chained drafts: the module again, on its own output state and its last draft, one position on
        for (int depth = 1; depth < options.speculativeTokens(); depth++) {
            int m = 0;
            for (int q = 0; q < wanted; q++) {
                Sequence s = mtpLogitOwner[q];
                int draftable = Math.min(options.speculativeTokens(),
                        s.request.sampling().maxTokens() - s.generatedCount - 1);
                if (draftable <= depth) continue;
                int from = mtpLogitRows[q];
                System.arraycopy(mtpOut, from * hidden, mtpIn, m * hidden, hidden);
                mtpTokens[m] = s.drafts[depth - 1];
                mtpPositions[m] = s.length() - 2 + depth;
                mtpSequences[m] = s.kv;
                mtpLogitRows[m] = m;
                mtpLogitOwner[m++] = s;
            }
            if (m == 0) break;
            mtp.forward(new StepRows(mtpTokens, mtpPositions, mtpSequences, m, model.rope(),
                    model.config().qkRopeHeadDim()), mtpIn, cache, workspace, mtpLogitRows, m, draftLogits, mtpOut);
            served = 0;
            for (int q = 0; q < m; q++) {
                Sequence s = mtpLogitOwner[q];
                if (workspace.unserved(q) != null) continue; // its chain ends with the drafts it has
                s.drafts[depth] = guess(s, q, depth, vocab);
                s.draftCount = depth + 1;
                mtpLogitRows[served] = mtpLogitRows[q];
                mtpLogitOwner[served++] = s;
            }
            Arrays.fill(mtpLogitOwner, served, m, null);
            wanted = served;
        }
        Arrays.fill(mtpSequences, 0, n, null);
        Arrays.fill(mtpLogitOwner, 0, n, null);
    }

    /** A step that could not run ends the requests that had rows in it, with the cause; the others go on. */
    private void failStep(int rows, RuntimeException cause) {
        long now = System.nanoTime();
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        for (int r = 0; r < rows; r++) {
            Sequence s = rowOwner[r];
            if (s != null && s.kv != null) finish(s, FinishReason.ERROR, now, message);
        }
        running.removeIf(s -> s.kv == null);
        Arrays.fill(rowOwner, 0, rows, null);
        Arrays.fill(rowSequences, 0, rows, null);
        publishStats();
    }

    private int addRow(int row, Sequence s, int token, int position) {
        rowTokens[row] = token;
        rowPositions[row] = position;
        rowSequences[row] = s.kv;
        rowOwner[row] = s;
        return row + 1;
    }

    /** Moves waiting requests into the batch while there are rows and KV blocks for their whole length. */
    private void admit() {
        while (!waiting.isEmpty() && running.size() < options.maxSequences()) {
            Sequence s = waiting.peek();
            int needed = cache.blocksFor(s.promptLength() + s.request.sampling().maxTokens());
            if (needed > cache.freeBlocks()) return;
            // the load it meets decides once whether a greedy sequence drafts (the cut-off of vLLM's
            // disable_by_batch_size): its module cache layer is then written for all its positions or none
            int load = running.size() + waiting.size();
            s.mayDraft = options.speculativeMaxBatch() == 0 || load <= options.speculativeMaxBatch()
                    || !s.sampler.isGreedy();
            waiting.poll();
            s.kv = cache.newSequence();
            cache.reserve(s.kv, s.promptLength() + s.request.sampling().maxTokens());
            s.started = System.nanoTime();
            running.add(s);
        }
    }

    private void applyCancellations() {
        for (String id; (id = cancellations.poll()) != null; ) {
            long now = System.nanoTime();
            for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
                Sequence s = it.next();
                if (s.request.id().equals(id)) {
                    it.remove();
                    s.listener.onFinish(s.generation(FinishReason.CANCELLED, now, null));
                }
            }
            for (Sequence s : running) {
                if (s.request.id().equals(id) && s.kv != null) finish(s, FinishReason.CANCELLED, now, null);
            }
            running.removeIf(s -> s.kv == null);
        }
    }

    private void finish(Sequence s, FinishReason reason, long now, String error) {
        cache.release(s.kv);
        s.kv = null;
        s.listener.onFinish(s.generation(reason, now, error));
    }
}
