package dev.moemesh.load.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.load.door.Door;
import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.load.workload.Lengths;
import dev.moemesh.load.workload.Workload;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The generator's own promises, with a door that stands in for a server whose behaviour the test sets: what is
 * measured here is the schedule and the accounting, not the mesh.
 */
class LoadGeneratorTest {
    private final ScheduledExecutorService server = Executors.newScheduledThreadPool(2);
    private final Workload workload = Workload.of(new Lengths.Fixed(4), new Lengths.Fixed(2), 512);

    /** Answers each request after {@code serviceMs}; the first send blocks the caller for {@code stallMs}. */
    private Door door(long serviceMs, long stallMs, int neverAnswerEvery) {
        AtomicInteger n = new AtomicInteger();
        return new Door() {
            @Override
            public String name() {
                return "test";
            }

            @Override
            public void send(LoadRequest r, RequestTrace trace) {
                int i = n.getAndIncrement();
                if (i == 0 && stallMs > 0) {
                    try {
                        Thread.sleep(stallMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                trace.sent(System.nanoTime());
                if (neverAnswerEvery > 0 && i % neverAnswerEvery == 0) return;
                server.schedule(() -> {
                    trace.token(System.nanoTime());
                    trace.token(System.nanoTime());
                    trace.answered(System.nanoTime(), 2);
                }, serviceMs, TimeUnit.MILLISECONDS);
            }

            @Override
            public void close() {
            }
        };
    }

    @Test
    void aStallDoesNotThinTheScheduleAndCountsInTheLatencyOfEveryRequestItDelayed() {
        Step step = new Step("stall", new Arrivals.FixedRate(50), workload, Duration.ofSeconds(1), Duration.ofSeconds(5));
        StepRun run = new LoadGenerator(door(5, 400, 0)).run(step, "s");
        assertEquals(50, run.traces().size(), "every request of the schedule is sent, late ones included");
        long late = run.traces().stream().filter(t -> t.sentNanos() - t.dueNanos() > 100_000_000L).count();
        assertTrue(late >= 15, "those due during the 400 ms stall went out late: " + late);
        for (RequestTrace t : run.traces()) {
            assertTrue(t.endNanos() - t.dueNanos() >= t.endNanos() - t.sentNanos(), "latency counts from the due time");
        }
    }

    @Test
    void aClosedLoopKeepsAtMostItsClientsOutstanding() {
        AtomicInteger outstanding = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        Door inner = door(20, 0, 0);
        Door counting = new Door() {
            @Override
            public String name() {
                return "test";
            }

            @Override
            public void send(LoadRequest r, RequestTrace trace) {
                peak.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
                inner.send(r, new RequestTrace(r.id(), trace.dueNanos(), t -> {
                    outstanding.decrementAndGet();
                    trace.answered(t.endNanos(), t.outputTokens());
                }));
            }

            @Override
            public void close() {
            }
        };
        StepRun run = new LoadGenerator(counting).run(new Step("closed", new Arrivals.Closed(3), workload,
                Duration.ofMillis(600), Duration.ofSeconds(5)), "c");
        assertTrue(peak.get() <= 3, "peak outstanding " + peak.get());
        assertTrue(run.traces().size() > 30, "3 clients at ~20 ms a request for 0.6 s: " + run.traces().size());
    }

    @Test
    void requestsWithoutAnAnswerByTheEndOfTheDrainFailAsNoAnswerSoSentIsAnsweredPlusFailed() {
        Step step = new Step("lost", new Arrivals.FixedRate(40), workload, Duration.ofMillis(500), Duration.ofMillis(300));
        StepRun run = new LoadGenerator(door(5, 0, 4)).run(step, "l");
        long answered = run.traces().stream().filter(t -> t.failure() == null).count();
        long noAnswer = run.traces().stream().filter(t -> "no_answer".equals(t.failure())).count();
        assertEquals(run.traces().size(), answered + noAnswer);
        assertEquals((run.traces().size() + 3) / 4, noAnswer, "every fourth is never answered");
    }
}
