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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * The single-process engine: continuous batching of many sequences over one {@link Model}.
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
    // the second micro-batch (EngineOptions.microBatches == 2): its own workspace, logits and thread
    private final Workspace secondWorkspace = new Workspace();
    private final Semaphore cores = new Semaphore(1, true);
    private float[] secondLogits = new float[0];
    private ExecutorService secondThread;
    private volatile EngineStats stats;
    private long generatedTokens;
    private long prefillTokens;

    /** A request in the engine. */
    private static final class Sequence {
        final GenerationRequest request;
        final TokenListener listener;
        final Sampler sampler;
        LatentKvCache.Sequence kv;
        int prefilled;
        int[] generated = new int[16];
        int generatedCount;
        long started;
        long firstToken;

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

        void append(int token) {
            if (generatedCount == generated.length) generated = Arrays.copyOf(generated, generatedCount * 2);
            generated[generatedCount++] = token;
        }
    }

    public BatchingEngine(Model model, EngineOptions options) {
        this.model = model;
        this.options = options;
        secondWorkspace.takeTurnsOn(cores);
        this.cache = model.newCache(options.kvBlockTokens(), options.kvBlocks());
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
            int split = options.microBatches() == 2 ? sequenceBoundaryNearMiddle(rows) : 0;
            if (split > 0) {
                forwardInTwo(rows, split, logitCount, vocab);
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
            if (isStop(s, token)) {
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

    /**
     * The row nearest the middle of the step where one sequence's rows end and another's begin, so each micro-batch
     * holds whole sequences (a prompt chunk's rows attend to each other); 0 when the step has one sequence.
     */
    private int sequenceBoundaryNearMiddle(int rows) {
        int middle = rows / 2;
        for (int d = 0; d <= rows / 2; d++) {
            int lo = middle - d;
            int hi = middle + d;
            if (lo > 0 && rowOwner[lo - 1] != rowOwner[lo]) return lo;
            if (hi > 0 && hi < rows && rowOwner[hi - 1] != rowOwner[hi]) return hi;
        }
        return 0;
    }

    /**
     * Runs rows {@code [0, split)} on this thread and {@code [split, rows)} on the second micro-batch thread. They
     * take turns on the cores: each computes while it holds {@link #cores} and lets go while its routed experts
     * are away, so one's attention overlaps the other's expert round trip. Every row's result is what one pass
     * would give (rows are independent), and so are the logits.
     */
    private void forwardInTwo(int rows, int split, int logitCount, int vocab) {
        int firstLogits = 0;
        while (firstLogits < logitCount && logitRows[firstLogits] < split) firstLogits++;
        int n2 = rows - split;
        int l2 = logitCount - firstLogits;
        int[] tokens2 = Arrays.copyOfRange(rowTokens, split, rows);
        int[] positions2 = Arrays.copyOfRange(rowPositions, split, rows);
        LatentKvCache.Sequence[] sequences2 = Arrays.copyOfRange(rowSequences, split, rows);
        int[] logitRows2 = new int[l2];
        for (int i = 0; i < l2; i++) logitRows2[i] = logitRows[firstLogits + i] - split;
        if (secondLogits.length < l2 * vocab) secondLogits = new float[l2 * vocab];
        StepRows first = new StepRows(rowTokens, rowPositions, rowSequences, split, model.rope(),
                model.config().qkRopeHeadDim());
        StepRows second = new StepRows(tokens2, positions2, sequences2, n2, model.rope(), model.config().qkRopeHeadDim());

        workspace.takeTurnsOn(cores);
        cores.acquireUninterruptibly();
        Future<?> other = secondMicroBatch().submit(() -> {
            cores.acquireUninterruptibly();
            try {
                model.forward(second, cache, secondWorkspace, logitRows2, l2, secondLogits);
            } finally {
                cores.release();
            }
        });
        RuntimeException failure = null;
        try {
            model.forward(first, cache, workspace, logitRows, firstLogits, logits);
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            cores.release();
        }
        try {
            other.get();
        } catch (ExecutionException e) {
            if (failure == null) {
                failure = e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (failure == null) failure = new IllegalStateException("interrupted waiting for the second micro-batch");
        }
        workspace.takeTurnsOn(null);
        if (failure != null) throw failure;
        System.arraycopy(secondLogits, 0, logits, firstLogits * vocab, l2 * vocab);
    }

    private ExecutorService secondMicroBatch() {
        if (secondThread == null) {
            secondThread = Executors.newSingleThreadExecutor(
                    r -> Thread.ofPlatform().daemon().name("engine-micro-batch-2").unstarted(r));
        }
        return secondThread;
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

    private boolean isStop(Sequence s, int token) {
        SamplingParams p = s.request.sampling();
        if (!p.ignoreEos() && token == model.config().eosTokenId()) return true;
        for (int stop : p.stopIds()) if (stop == token) return true;
        return false;
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
                    s.listener.onFinish(result(s, FinishReason.CANCELLED, now, null));
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
        s.listener.onFinish(result(s, reason, now, error));
    }

    private Generation result(Sequence s, FinishReason reason, long now, String error) {
        long prefill = s.firstToken == 0 ? (s.started == 0 ? 0 : now - s.started) : s.firstToken - s.started;
        long decode = s.firstToken == 0 ? 0 : now - s.firstToken;
        return new Generation(s.request.id(), Arrays.copyOf(s.generated, s.generatedCount), reason, s.promptLength(),
                prefill, decode, error);
    }
}
