package dev.moemesh.core.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits a range of independent work items over the machine's cores.
 *
 * <p>Decode runs a few hundred small matrix products per token, so handing work to a pool must cost
 * microseconds: workers spin briefly on the current job before parking. The caller takes part too.
 * Which thread computes an item never changes its result, so output does not depend on scheduling.
 */
public final class Parallel {

    /** A body that computes items {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /** The compute workers' thread names start with this (a profile tells their samples apart by it). */
    public static final String WORKER_NAME_PREFIX = "moemesh-compute-";
    private static final int THREADS = Integer.getInteger("moemesh.threads", Runtime.getRuntime().availableProcessors());
    /**
     * How long an idle worker spins before it parks: long enough to catch the next product of a step. Where
     * several services share the cores (a mesh on one machine), less spinning leaves them to the others.
     */
    private static final long SPIN_NANOS = Long.getLong("moemesh.spin-nanos", 200_000);
    /** Set while a thread runs a chunk: work it starts itself runs inline instead of re-entering the pool. */
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);
    private static final Parallel POOL = new Parallel(THREADS);

    /** One call's work; claimed chunk by chunk, so a worker waking late finds nothing left rather than a newer job's chunks. */
    private static final class Job {
        final RangeBody body;
        final int items;
        final int chunkSize;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger pending;
        volatile Throwable failure;

        Job(RangeBody body, int items, int chunkSize) {
            this.body = body;
            this.items = items;
            this.chunkSize = chunkSize;
            this.chunks = (items + chunkSize - 1) / chunkSize;
            this.pending = new AtomicInteger(chunks);
        }

        void drain() {
            INSIDE.set(Boolean.TRUE);
            try {
                for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
                    try {
                        body.run(c * chunkSize, Math.min(items, (c + 1) * chunkSize));
                    } catch (Throwable t) {
                        failure = t;
                    } finally {
                        pending.decrementAndGet();
                    }
                }
            } finally {
                INSIDE.set(Boolean.FALSE);
            }
        }
    }

    private final Thread[] workers;
    private volatile Job current;

    private Parallel(int threads) {
        workers = new Thread[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().daemon(true).name(WORKER_NAME_PREFIX + i).start(this::work);
        }
    }

    public static int threads() {
        return THREADS;
    }

    /** Runs {@code body} over {@code [0, n)} in chunks of at least {@code grain} items, on all cores. */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        if (THREADS == 1 || n <= grain || INSIDE.get()) {
            body.run(0, n);
            return;
        }
        POOL.submit(n, grain, body);
    }

    private synchronized void submit(int n, int grain, RangeBody body) {
        int parts = Math.min(THREADS * 4, (n + grain - 1) / grain);
        Job job = new Job(body, n, (n + parts - 1) / parts);
        current = job;
        for (Thread w : workers) LockSupport.unpark(w);
        job.drain();
        while (job.pending.get() > 0) Thread.onSpinWait();
        Throwable failure = job.failure;
        if (failure instanceof RuntimeException r) throw r;
        if (failure instanceof Error e) throw e;
        if (failure != null) throw new IllegalStateException(failure);
    }

    private void work() {
        Job done = null;
        while (true) {
            long deadline = System.nanoTime() + SPIN_NANOS;
            Job job;
            while ((job = current) == done) {
                if (System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            job.drain();
            done = job;
        }
    }
}
