package dev.moemesh.client;

import dev.moemesh.proto.Completion;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

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
    public GenerationListener observe(String door, GenerationListener listener) {
        long started = System.nanoTime();
        Timer firstToken = Timer.builder("moemesh.door.time.to.first.token").tag("door", door)
                .description("from a request's dispatch to its first token").publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2))
                .register(registry);
        Counter runsAgain = Counter.builder("moemesh.door.generation.runs.again").tag("door", door)
                .description("generations the mesh failed that ran again (AttentionCall, GenerationRetry)")
                .register(registry);
        return new GenerationListener() {
            @Override
            public void token(int index, int tokenId) {
                if (index == 0) firstToken.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                listener.token(index, tokenId);
            }

            @Override
            public void completed(Completion completion, String attentionService) {
                count(door, GenerationWire.finishReason(completion).wireName());
                listener.completed(completion, attentionService);
            }

            @Override
            public void failed(Status status, String message) {
                count(door, status.getCode() == Status.Code.CANCELLED ? "cancelled"
                        : DoorAdmission.isOverload(status) ? "refused" : "failed");
                listener.failed(status, message);
            }

            @Override
            public void ranAgain(String why) {
                runsAgain.increment();
                listener.ranAgain(why);
            }
        };
    }

    private void count(String door, String outcome) {
        Counter.builder("moemesh.door.generations").tag("door", door).tag("outcome", outcome)
                .description("generations that ended, by how").register(registry).increment();
    }
}
