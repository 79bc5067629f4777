package dev.moemesh.core.engine;

import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.StepRows;
import dev.moemesh.core.model.Workspace;

import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * One step's rows as two micro-batches of whole sequences that take turns on the cores: one computes while the
 * other's routed experts are away ({@code EngineOptions.microBatches == 2}).
 */
final class TwoMicroBatches {
    private final Model model;
    private final LatentKvCache cache;
    // the second micro-batch's own workspace, logits and thread
    private final Workspace secondWorkspace = new Workspace();
    private final Semaphore cores = new Semaphore(1, true);
    private float[] secondLogits = new float[0];
    private float[] secondNormed = new float[0];
    private ExecutorService secondThread;

    TwoMicroBatches(Model model, LatentKvCache cache) {
        this.model = model;
        this.cache = cache;
        secondWorkspace.takeTurnsOn(cores);
    }

    /**
     * The row nearest the middle of the step where one sequence's rows end and another's begin, so each micro-batch
     * holds whole sequences (a prompt chunk's rows attend to each other); 0 when the step has one sequence.
     */
    static int sequenceBoundaryNearMiddle(Object[] rowOwner, int rows) {
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
     * Runs rows {@code [0, split)} on this thread and {@code [split, rows)} on the second micro-batch
     * thread. They take turns on the cores: each computes while it holds the cores and lets go while its routed
     * experts are away, so one's attention overlaps the other's expert round trip. Every row's result is what one
     * pass would give (rows are independent), and so are the logits and, when {@code normedOut} is not null, the
     * final-normed hidden states of every row. The rows either micro-batch could not compute for want of an expert
     * are marked in {@code workspace}, numbered as in the step.
     */
    void forward(int[] rowTokens, int[] rowPositions, LatentKvCache.Sequence[] rowSequences, int rows, int split,
                 int[] logitRows, int logitCount, Workspace workspace, float[] logits, int vocab, float[] normedOut) {
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
        int hidden = model.config().hiddenSize();
        if (normedOut != null && secondNormed.length < n2 * hidden) secondNormed = new float[n2 * hidden];
        float[] normed2 = normedOut == null ? null : secondNormed;
        StepRows first = new StepRows(rowTokens, rowPositions, rowSequences, split, model.rope(),
                model.config().qkRopeHeadDim());
        StepRows second = new StepRows(tokens2, positions2, sequences2, n2, model.rope(), model.config().qkRopeHeadDim());

        workspace.takeTurnsOn(cores);
        cores.acquireUninterruptibly();
        Future<?> other = secondMicroBatch().submit(() -> {
            cores.acquireUninterruptibly();
            try {
                model.forward(second, cache, secondWorkspace, logitRows2, l2, secondLogits, normed2);
            } finally {
                cores.release();
            }
        });
        RuntimeException failure = null;
        try {
            model.forward(first, cache, workspace, logitRows, firstLogits, logits, normedOut);
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
        workspace.addUnserved(secondWorkspace, split);
        System.arraycopy(secondLogits, 0, logits, firstLogits * vocab, l2 * vocab);
        if (normedOut != null) System.arraycopy(secondNormed, 0, normedOut, split * hidden, n2 * hidden);
    }

    private ExecutorService secondMicroBatch() {
        if (secondThread == null) {
            secondThread = Executors.newSingleThreadExecutor(
                    r -> Thread.ofPlatform().daemon().name("engine-micro-batch-2").unstarted(r));
        }
        return secondThread;
    }
}
