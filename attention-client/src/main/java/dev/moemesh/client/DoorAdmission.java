package dev.moemesh.client;

import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * How a front door sheds load: its own bound on generations in flight, and the one status the mesh says "too busy
 * now, try again" with, {@code RESOURCE_EXHAUSTED} (this bound, or an attention service's full queue). The REST door
 * answers it 429 with {@code Retry-After: }{@link #retryAfter}, the gRPC door passes the status on, the Kafka door
 * keeps the record and tries again (the consumer pauses meanwhile, so the backlog stays in Kafka).
 */
public final class DoorAdmission {
    private final int maxInFlight;
    private final String setting;
    private final Duration retryAfter;
    private final AtomicInteger inFlight = new AtomicInteger();

    /**
     * @param maxInFlight generations this door runs at once
     * @param setting     the setting {@code maxInFlight} comes from, named in refusals
     * @param retryAfter  what a refused client is told to wait
     */
    public DoorAdmission(int maxInFlight, String setting, Duration retryAfter) {
        if (maxInFlight < 1) throw new IllegalArgumentException(setting + " must be at least 1, got " + maxInFlight);
        this.maxInFlight = maxInFlight;
        this.setting = setting;
        this.retryAfter = retryAfter;
    }

    /** Whether a failed call was refused for load: worth sending again later, unlike every other failure. */
    public static boolean isOverload(Status status) {
        return status.getCode() == Status.Code.RESOURCE_EXHAUSTED;
    }

    /**
     * {@code listener}, admitted: it counts against the bound until its one ending. Null when the door is full;
     * then {@link #refusal} says why.
     */
    public GenerationListener admit(GenerationListener listener) {
        for (int n; (n = inFlight.get()) < maxInFlight; ) {
            if (inFlight.compareAndSet(n, n + 1)) return new Released(listener);
        }
        return null;
    }

    public Status refusal() {
        return Status.RESOURCE_EXHAUSTED.withDescription("this door has " + maxInFlight + " generations in flight ("
                + setting + "); retry after " + retryAfter.toSeconds() + " s");
    }

    /** Whole seconds, at least 1: the value of an HTTP {@code Retry-After}. */
    public long retryAfterSeconds() {
        return Math.max(1, (retryAfter.toMillis() + 999) / 1000);
    }

    public int inFlight() {
        return inFlight.get();
    }

    /** Gives the place back at the listener's ending. */
    private final class Released implements GenerationListener {
        private final GenerationListener listener;

        Released(GenerationListener listener) {
            this.listener = listener;
        }

        @Override
        public void token(TokenEvent token) {
            listener.token(token);
        }

        @Override
        public void completed(Completion completion, String attentionService) {
            inFlight.decrementAndGet();
            listener.completed(completion, attentionService);
        }

        @Override
        public void failed(Status status, String message) {
            inFlight.decrementAndGet();
            listener.failed(status, message);
        }

        @Override
        public void ranAgain(String why) {
            listener.ranAgain(why); // still one place: the generation is the same
        }
    }
}
