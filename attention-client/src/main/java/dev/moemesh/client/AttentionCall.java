package dev.moemesh.client;

import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.TokenEvent;
import dev.moemesh.wire.GenerationWire;
import dev.moemesh.wire.RequestIds;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import org.jboss.logging.Logger;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * One generation on the attention services through their streaming {@code Generate} call, as both front doors run
 * it: on the pool's choice, telling a listener its tokens and one ending, and logging that ending with the request
 * id ({@link RequestIds}). A run the mesh failed is run again elsewhere under the pool's {@link GenerationRetry},
 * invisibly: the tokens it replays are checked against those already told and not told again.
 * {@link #cancel} cancels the call, which cancels the generation.
 */
public final class AttentionCall {
    private static final Logger LOG = Logger.getLogger(AttentionCall.class);
    /**
     * How long a request id the service still runs is retried: after a restart of the orchestrator, the generation
     * it abandoned is cancelled at the service's next step, and the request served again may arrive before that.
     */
    private static final long ALREADY_EXISTS_RETRY_MS = 100;
    private static final int ALREADY_EXISTS_ATTEMPTS = 50;

    private final AttentionPool pool;
    private final GenerateRequest request;
    private final GenerationListener listener;
    private final Context context;
    /** The caller's trace context: every run, retries on other threads included, is made in it (MeshTraceContext). */
    private final io.opentelemetry.context.Context trace = io.opentelemetry.context.Context.current();
    private final long startNanos = System.nanoTime();
    private final Set<AttentionPool.Member> failedOn = new HashSet<>(); // services this generation failed on
    private int[] told = new int[16];                                  // tokens the listener heard, by index
    private int toldCount;
    private int runs;
    private volatile Ending lastError; // the last run's failure, told when no run is left
    private volatile boolean cancelled;
    private volatile ClientCallStreamObserver<GenerateRequest> call;
    private volatile String service = ""; // where the latest run went

    /** How the last run ended: its completion and service, or why it failed (a status and a message). */
    record Ending(Completion completion, String service, Status status, String message) {}

    /** A run's failure that no run elsewhere would mend: a refusal of the request, a cancel, a divergent replay. */
    private static final class Final extends RuntimeException {
        final transient Ending ending;

        Final(Ending ending) {
            super(ending.message, null, false, false);
            this.ending = ending;
        }
    }

    private AttentionCall(AttentionPool pool, GenerateRequest request, GenerationListener listener, Context context) {
        this.pool = pool;
        this.request = request;
        this.listener = listener;
        this.context = context; // every run, retries included, is made in it: its cancellation cancels them
    }

    /**
     * Starts the generation on the pool's choice for its prompt and returns at once; the listener hears on gRPC
     * threads its tokens once each, in order, and exactly one ending. Only {@link #cancel} ends it early: the call
     * is made in {@link Context#ROOT}, never in whatever gRPC context the calling thread holds. On a Vert.x event
     * loop that may be the context of an earlier, finished gRPC call left behind on the duplicated Vert.x context
     * (quarkusio/quarkus#55480), already cancelled, which would cancel this call with it (seen in the REST door
     * as "CANCELLED: io.grpc.Context was cancelled without error").
     */
    public static AttentionCall start(AttentionPool pool, GenerateRequest request, GenerationListener listener) {
        return startIn(Context.ROOT, pool, request, listener);
    }

    /**
     * Starts the generation as {@link #start} does, within a door's own gRPC call: when {@code caller} is
     * cancelled (its client cancels, or its deadline passes), so is the generation, retries included.
     */
    public static AttentionCall startIn(Context caller, AttentionPool pool, GenerateRequest request,
                                        GenerationListener listener) {
        AttentionCall handle = new AttentionCall(pool, request, listener, caller);
        handle.runGuarded();
        return handle;
    }

    private void runGuarded() {
        CompletionStage<Ending> outcome;
        try {
            outcome = pool.retryGuard().get(this::run);
        } catch (RuntimeException e) {
            outcome = CompletableFuture.failedFuture(e);
        }
        outcome.whenComplete((ending, failure) -> end(ending != null ? ending : endingOf(failure)));
    }

    /** One run on one service: completes with its ending, or exceptionally with {@link GenerationRetry.Transient}. */
    private CompletionStage<Ending> run() {
        CompletableFuture<Ending> done = new CompletableFuture<>();
        if (cancelled) {
            done.completeExceptionally(new Final(new Ending(null, null, Status.CANCELLED, "request "
                    + request.getRequestId() + " was cancelled before it ran again")));
            return done;
        }
        runs++;
        if (runs > 1) {
            RequestIds.log(LOG, Logger.Level.WARN, request.getRequestId(), "request %s: run %d after %s",
                    request.getRequestId(), runs, lastError.message());
            listener.ranAgain(lastError.message());
        }
        AttentionPool.Member member = pool.acquire(request.getPromptTokenIdsList(), failedOn);
        service = member.address();
        context.run(trace.wrap(() -> send(member, done, 1)));
        return done;
    }

    private void send(AttentionPool.Member member, CompletableFuture<Ending> done, int attempt) {
        String id = request.getRequestId();
        AttentionServiceGrpc.newStub(member.channel()).generate(request, new ClientResponseObserver<GenerateRequest,
                GenerateEvent>() {
            private boolean ended;

            @Override
            public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                call = requestStream;
                if (cancelled) requestStream.cancel("cancelled", null);
            }

            @Override
            public void onNext(GenerateEvent e) {
                if (ended) return;
                if (e.hasToken()) {
                    String diverged = token(e.getToken(), member);
                    if (diverged != null) {
                        end();
                        call.cancel(diverged, null);
                        done.completeExceptionally(new Final(new Ending(null, member.address(), Status.ABORTED,
                                diverged)));
                    }
                } else if (e.hasCompleted()) {
                    end();
                    Completion c = e.getCompleted();
                    if (GenerationWire.finishReason(c) == FinishReason.ERROR) {
                        // the mesh ended it (an expert fault healing could not cover): worth a run elsewhere
                        failedOn.add(member);
                        lastError = new Ending(c, member.address(), null, "attention service " + member.address()
                                + ": " + c.getErrorMessage());
                        done.completeExceptionally(new GenerationRetry.Transient(lastError.message()));
                    } else {
                        done.complete(new Ending(c, member.address(), null, null));
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                if (ended) return;
                Status s = Status.fromThrowable(t);
                if (s.getCode() == Status.Code.ALREADY_EXISTS && attempt < ALREADY_EXISTS_ATTEMPTS) {
                    ended = true;
                    pool.retryLater(() -> context.run(trace.wrap(() -> send(member, done, attempt + 1))),
                            ALREADY_EXISTS_RETRY_MS);
                    return;
                }
                end();
                String message = "attention service " + member.address() + ": " + s.getCode()
                        + (s.getDescription() == null ? "" : ": " + s.getDescription());
                fail(done, member, s, message);
            }

            @Override
            public void onCompleted() {
                if (ended) return;
                end();
                fail(done, member, Status.INTERNAL, "attention service " + member.address()
                        + " ended the stream without a completion");
            }

            private void end() {
                ended = true;
                pool.release(member);
            }
        });
    }

    /**
     * A run's failure: run again elsewhere when the mesh failed it, else final. A refusal for load is final too
     * while nothing was told (each door has its own answer to it), but once tokens went out, the generation goes
     * on elsewhere rather than start over.
     */
    private void fail(CompletableFuture<Ending> done, AttentionPool.Member member, Status s, String message) {
        Ending ending = new Ending(null, member.address(), s, message);
        boolean overload = DoorAdmission.isOverload(s);
        if (cancelled || !isTransient(s.getCode()) || (overload && toldCount == 0)) {
            done.completeExceptionally(new Final(ending));
            return;
        }
        if (!overload) failedOn.add(member);
        lastError = ending;
        done.completeExceptionally(new GenerationRetry.Transient(message));
    }

    /** Whether a run that failed with this code may succeed elsewhere or later: the mesh's faults, not the request's. */
    static boolean isTransient(Status.Code code) {
        return switch (code) {
            case UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ABORTED, DATA_LOSS, RESOURCE_EXHAUSTED -> true;
            default -> false; // INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, CANCELLED, UNIMPLEMENTED, ...
        };
    }

    /**
     * A token of the run: told when new, checked when a run again replays it. Greedy and seeded sampling (every
     * request has a seed; none given is 0) reproduce the tokens told; a replay that differs is named here.
     *
     * @return why the replay diverged, or null
     */
    private String token(TokenEvent token, AttentionPool.Member member) {
        int index = token.getIndex();
        int tokenId = token.getTokenId();
        if (index < toldCount) {
            if (told[index] == tokenId) return null;
            return "request " + request.getRequestId() + " ran again on attention service " + member.address()
                    + " after a failure, but its token " + index + " is " + tokenId + ", not the " + told[index]
                    + " already sent; the sampling did not reproduce (a mesh whose processes differ in model or"
                    + " numerics?), so the generation ends here rather than send a different continuation";
        }
        if (index != toldCount) {
            return "request " + request.getRequestId() + ": attention service " + member.address() + " sent token "
                    + index + " after " + toldCount + " tokens";
        }
        if (toldCount == told.length) told = Arrays.copyOf(told, toldCount * 2);
        told[toldCount++] = tokenId;
        listener.token(token);
        return null;
    }

    private Ending endingOf(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause()
                : failure;
        if (cause instanceof Final f) return f.ending;
        Ending last = lastError;
        if (cause instanceof GenerationRetry.Transient && last != null) return last;
        return new Ending(null, null, Status.INTERNAL, "request " + request.getRequestId() + ": " + cause);
    }

    /** Tells the listener the one ending, logged with the request id. */
    private void end(Ending e) {
        String id = request.getRequestId();
        long ms = (System.nanoTime() - startNanos) / 1_000_000;
        String tries = runs > 1 ? " (" + runs + " runs)" : "";
        if (e.completion() != null) {
            Completion c = e.completion();
            FinishReason reason = GenerationWire.finishReason(c);
            RequestIds.log(LOG, reason == FinishReason.ERROR ? Logger.Level.WARN : Logger.Level.INFO, id,
                    "request %s on attention service %s: finish %s, %d prompt + %d generated tokens, %d ms%s%s", id,
                    e.service(), reason.wireName(), c.getPromptTokens(), c.getTokenIdsCount(), ms, tries,
                    c.getErrorMessage().isEmpty() ? "" : ": " + c.getErrorMessage());
            listener.completed(c, e.service());
        } else {
            RequestIds.log(LOG, e.status().getCode() == Status.Code.CANCELLED ? Logger.Level.INFO : Logger.Level.WARN,
                    id, "request %s failed after %d ms%s: %s", id, ms, tries, e.message());
            listener.failed(e.status(), e.message());
        }
    }

    /** The attention service ({@code host:port}) the latest run of this generation went to; empty before the first. */
    public String attentionService() {
        return service;
    }

    /** Cancels the call (and so the generation) and any run again; the listener then hears a {@code CANCELLED} failure. */
    public void cancel(String why) {
        cancelled = true;
        ClientCallStreamObserver<GenerateRequest> c = call;
        if (c != null) c.cancel(why, null);
    }
}
