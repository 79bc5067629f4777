package dev.moemesh.core.engine;

import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.StepRows;
import dev.moemesh.core.model.Workspace;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Continuous batching of many sequences over one {@link Model}: the single-process engine, and the attention
 * service's with its routed experts remote.
 *
 * <p>Each step takes one decode row from every running sequence that has finished its prompt, fills the rest of
 * the step's rows with prompt chunks (chunked prefill, at most {@code prefillChunk} tokens of one sequence per
 * step), runs the model once over all rows and samples for the rows that end a prompt or decode. Sequences join
 * and leave between steps. Every row's math is independent of the other rows, so a sequence's tokens do not depend
 * on what else is in the batch. Requests may be submitted and cancelled from any thread; {@link #step} runs on one.
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
        publishStats();
    }

    /** Counts as of the last step's end; safe to read from any thread. */
    public EngineStats stats() {
        return stats;
    }

    private void publishStats() {
        stats = new EngineStats(running.size(), waiting.size() + incoming.size(), cache.totalBlocks(),
                cache.totalBlocks() - cache.freeBlocks(), cache.blockTokens(), generatedTokens, prefillTokens);
    }

    public LatentKvCache cache() {
        return cache;
    }

    /**
     * Queues a request; its tokens and end go to {@code listener}.
     *
     * @throws IllegalArgumentException when the request can never run here: a token outside the vocabulary, or a
     *                                  prompt plus max_tokens longer than the served context or the KV cache
     */
    public void submit(GenerationRequest request, TokenListener listener) {
        int vocab = model.config().vocabSize();
        for (int t : request.promptIds()) {
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("request " + request.id() + ": prompt token id " + t
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        int total = request.promptIds().length + request.sampling().maxTokens();
        if (total > model.maxSeqLen()) {
            throw new IllegalArgumentException("request " + request.id() + ": prompt (" + request.promptIds().length
                    + " tokens) + max_tokens (" + request.sampling().maxTokens() + ") exceeds the served context of "
                    + model.maxSeqLen() + " tokens");
        }
        if (cache.blocksFor(total) > cache.totalBlocks()) {
            throw new IllegalArgumentException("request " + request.id() + ": prompt + max_tokens = " + total
                    + " tokens exceeds the KV cache (" + cache.totalBlocks() * cache.blockTokens() + " tokens)");
        }
        incoming.add(new Sequence(request, listener));
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
        admit();
        if (running.isEmpty()) {
            publishStats();
            return;
        }

        int rows = 0;
        int logitCount = 0;
        for (Sequence s : running) {
            if (!s.decoding()) continue;
            rows = addRow(rows, s, s.generated[s.generatedCount - 1], s.promptLength() + s.generatedCount - 1);
            logitRows[logitCount] = rows - 1;
            logitOwner[logitCount++] = s;
        }
        for (Sequence s : running) {
            if (s.decoding() || rows == options.maxBatchTokens()) continue;
            int chunk = Math.min(Math.min(options.prefillChunk(), s.promptLength() - s.prefilled),
                    options.maxBatchTokens() - rows);
            for (int i = 0; i < chunk; i++) rows = addRow(rows, s, s.request.promptIds()[s.prefilled + i], s.prefilled + i);
            s.prefilled += chunk;
            prefillTokens += chunk;
            if (s.decoding()) {
                logitRows[logitCount] = rows - 1;
                logitOwner[logitCount++] = s;
            }
        }

        int vocab = model.config().vocabSize();
        if (logits.length < logitCount * vocab) logits = new float[logitCount * vocab];
        StepRows step = new StepRows(rowTokens, rowPositions, rowSequences, rows, model.rope(), model.config().qkRopeHeadDim());
        try {
            int split = options.microBatches() == 2 ? TwoMicroBatches.sequenceBoundaryNearMiddle(rowOwner, rows) : 0;
            if (split > 0) {
                microBatches.forward(rowTokens, rowPositions, rowSequences, rows, split, logitRows, logitCount,
                        workspace, logits, vocab);
            } else {
                model.forward(step, cache, workspace, logitRows, logitCount, logits);
            }
        } catch (RuntimeException e) {
            failStep(rows, e);
            return;
        }

        long now = System.nanoTime();
        for (int i = 0; i < logitCount; i++) {
            Sequence s = logitOwner[i];
            int token = s.sampler.sample(logits, i * vocab, vocab);
            if (s.generatedCount == 0) s.firstToken = now;
            if (s.isStop(token, model.config().eosTokenId())) {
                finish(s, FinishReason.STOP, now, null);
                continue;
            }
            s.append(token);
            generatedTokens++;
            s.listener.onToken(s.request.id(), token);
            if (s.generatedCount == s.request.sampling().maxTokens()) finish(s, FinishReason.LENGTH, now, null);
        }
        running.removeIf(s -> s.kv == null);
        Arrays.fill(rowOwner, 0, rows, null);
        Arrays.fill(rowSequences, 0, rows, null);
        Arrays.fill(logitOwner, 0, logitCount, null);
        publishStats();
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
