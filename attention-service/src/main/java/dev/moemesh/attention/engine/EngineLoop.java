package dev.moemesh.attention.engine;

import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineStats;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.TokenListener;
import io.opentelemetry.context.Scope;
import io.quarkus.logging.Log;

import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs a {@link BatchingEngine} on a thread of its own: steps while there is work, sleeps when there is none, and
 * wakes when a request arrives. Requests join and leave at step boundaries.
 */
public final class EngineLoop implements AutoCloseable {
    private final BatchingEngine engine;
    private final GenerationTraces traces;
    private final Thread thread;
    private volatile IntConsumer stepObserver = sequences -> { };
    private volatile boolean stopping;

    public EngineLoop(BatchingEngine engine, GenerationTraces traces) {
        this.engine = engine;
        this.traces = traces;
        this.thread = Thread.ofPlatform().name("engine-loop").daemon().unstarted(this::loop);
        thread.start();
    }

    /** Queues a request; throws IllegalArgumentException when it can never run (see BatchingEngine.submit). */
    public void submit(GenerationRequest request, TokenListener listener) {
        engine.submit(request, listener);
        LockSupport.unpark(thread);
    }

    public void cancel(String requestId) {
        engine.cancel(requestId);
        LockSupport.unpark(thread);
    }

    /** Hears, on the loop's thread, how many sequences each step ran. */
    public void onStep(IntConsumer observer) {
        this.stepObserver = observer;
    }

    public EngineStats stats() {
        return engine.stats();
    }

    private void loop() {
        while (!stopping) {
            try {
                if (engine.hasWork()) {
                    try (Scope ignored = traces.step()) { // its expert calls carry the step's trace context
                        engine.step();
                    }
                    EngineStats stats = engine.stats();
                    // a step with every sequence set aside ran nothing (it waited 2 ms): no batch to count
                    if (stats.running() > stats.parked()) stepObserver.accept(stats.running());
                } else {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                }
            } catch (RuntimeException | Error e) {
                // a step failure ends its own requests inside the engine; anything else is a bug, logged, not fatal
                Log.errorf(e, "engine step failed");
            }
        }
    }

    @Override
    public void close() {
        stopping = true;
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
