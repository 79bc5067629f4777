package dev.moemesh.load.run;

import dev.moemesh.load.door.Door;
import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.load.workload.Workload;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs a {@link Step} through a {@link Door}. Open loop: one thread sends each request at its scheduled time
 * (a request whose time has passed is sent at once, late, and its latency still counts from its scheduled time).
 * Closed loop: N permits, one per client; a request's end frees its client for the next. After the step's duration
 * nothing more is sent; requests without an answer by the end of the drain fail as {@code no_answer}.
 */
public final class LoadGenerator {
    private final Door door;

    public LoadGenerator(Door door) {
        this.door = door;
    }

    public StepRun run(Step step, String idPrefix) {
        Workload.Source source = step.workload().source(idPrefix);
        List<RequestTrace> traces = new ArrayList<>();
        AtomicInteger outstanding = new AtomicInteger();
        Semaphore clients = step.arrivals() instanceof Arrivals.Closed c ? new Semaphore(c.clients()) : null;
        Thread waiter = Thread.currentThread();
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
        long end = start + step.duration().toNanos();
        SplittableRandom rng = new SplittableRandom(step.workload().seed() * 31 + 7);
        long due = start;
        while (true) {
            if (clients != null) {
                try {
                    if (!clients.tryAcquire(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS)) break;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
                due = Math.max(System.nanoTime(), start);
                parkUntil(due);
            } else {
                parkUntil(due);
            }
            if (due >= end) break;
            LoadRequest request = source.next();
            outstanding.incrementAndGet();
            RequestTrace trace = new RequestTrace(request.id(), due, t -> {
                if (clients != null) clients.release();
                if (outstanding.decrementAndGet() == 0) LockSupport.unpark(waiter);
            });
            traces.add(trace);
            try {
                door.send(request, trace);
            } catch (RuntimeException e) {
                trace.failed(System.nanoTime(), "send_" + e.getClass().getSimpleName());
            }
            if (step.arrivals() instanceof Arrivals.Open open) due += open.nextGapNanos(rng);
        }
        long sendingEnded = System.nanoTime();
        long giveUp = sendingEnded + step.drain().toNanos();
        while (outstanding.get() > 0 && System.nanoTime() < giveUp) {
            LockSupport.parkNanos(Math.min(TimeUnit.MILLISECONDS.toNanos(100), giveUp - System.nanoTime()));
        }
        long now = System.nanoTime();
        for (RequestTrace t : traces) if (!t.ended()) t.failed(now, "no_answer");
        return new StepRun(step, door.name(), start, sendingEnded, System.nanoTime(), traces);
    }

    private static void parkUntil(long nanos) {
        for (long left; (left = nanos - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
    }
}
