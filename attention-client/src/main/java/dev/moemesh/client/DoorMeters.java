package dev.moemesh.client;

import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A front door's meters, as its users see it: {@code moemesh_door_time_to_first_token_seconds{door}} from the
 * request's dispatch to its first token, and {@code moemesh_door_generations_total{door,outcome}} with the finish
 * reason ({@code stop}, {@code length}, {@code cancelled}, {@code error}), {@code refused} (an attention service's
 * queue was full: {@code RESOURCE_EXHAUSTED}) or {@code failed} (the call broke off or was refused otherwise), and
 * {@code moemesh_door_generation_runs_again_total{door}}: runs of a generation the mesh failed, again.
 */
public final class DoorMeters {
    private final MeterRegistry registry;

    public DoorMeters(MeterRegistry registry) {
        this.registry = registry;
    }

    /** {@code listener}, with this door's meters recorded as its events pass. */
    public Observed observe(String door, GenerationListener listener) {
        return new Observed(door, listener);
    }

    /**
     * A generation's listener that records the door's meters as its events pass: its one outcome is counted once,
     * when it ends, or when the door ends it itself ({@link #stoppedByDoor}).
     */
    public final class Observed implements GenerationListener {
        private final String door;
        private final GenerationListener listener;
        private final long started = System.nanoTime();
        private final Timer firstToken;
        private final Counter runsAgain;
        private final AtomicBoolean counted = new AtomicBoolean();

        private Observed(String door, GenerationListener listener) {
            this.door = door;
            this.listener = listener;
            this.firstToken = Timer.builder("moemesh.door.time.to.first.token").tag("door", door)
                    .description("from a request's dispatch to its first token").publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2))
                    .register(registry);
            this.runsAgain = Counter.builder("moemesh.door.generation.runs.again").tag("door", door)
                    .description("generations the mesh failed that ran again (AttentionCall, GenerationRetry)")
                    .register(registry);
        }

        /**
         * The door ended the generation at one of its request's stop strings (and cancels the call): counted as
         * {@code stop}, not as the {@code cancelled} the call then reports.
         */
        public void stoppedByDoor() {
            end(FinishReason.STOP.wireName());
        }

        @Override
        public void token(TokenEvent token) {
            heard(token.getIndex());
            listener.token(token);
        }

        private void heard(int index) {
            if (index == 0) firstToken.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
        }

        @Override
        public void completed(Completion completion, String attentionService) {
            end(GenerationWire.finishReason(completion).wireName());
            listener.completed(completion, attentionService);
        }

        @Override
        public void failed(Status status, String message) {
            end(status.getCode() == Status.Code.CANCELLED ? "cancelled"
                    : DoorAdmission.isOverload(status) ? "refused" : "failed");
            listener.failed(status, message);
        }

        @Override
        public void ranAgain(String why) {
            runsAgain.increment();
            listener.ranAgain(why);
        }

        private void end(String outcome) {
            if (counted.compareAndSet(false, true)) count(door, outcome);
        }
    }

    private void count(String door, String outcome) {
        Counter.builder("moemesh.door.generations").tag("door", door).tag("outcome", outcome)
                .description("generations that ended, by how").register(registry).increment();
    }
}
