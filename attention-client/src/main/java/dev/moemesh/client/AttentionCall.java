package dev.moemesh.client;

import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.wire.GenerationWire;
import dev.moemesh.wire.RequestIds;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import org.jboss.logging.Logger;

/**
 * One generation on an attention service through its streaming {@code Generate} call, as both front doors run it:
 * on the least loaded member of the pool, telling a listener its tokens and one ending, and logging that ending with
 * the request id ({@link RequestIds}). {@link #cancel} cancels the call, which cancels the generation.
 */
public final class AttentionCall {
    private static final Logger LOG = Logger.getLogger(AttentionCall.class);
    /**
     * How long a request id the service still runs is retried: after a restart of the orchestrator, the generation
     * it abandoned is cancelled at the service's next step, and the request served again may arrive before that.
     */
    private static final long ALREADY_EXISTS_RETRY_MS = 100;
    private static final int ALREADY_EXISTS_ATTEMPTS = 50;

    private volatile ClientCallStreamObserver<GenerateRequest> call;

    private AttentionCall() {}

    /**
     * Starts the call on the pool's choice for its prompt and returns at once; the listener hears on gRPC threads,
     * exactly one ending, after which the member is released back to the pool.
     */
    public static AttentionCall start(AttentionPool pool, GenerateRequest request, GenerationListener listener) {
        AttentionCall handle = new AttentionCall();
        handle.start(pool, pool.acquire(request.getPromptTokenIdsList()), request, listener, System.nanoTime(), 1);
        return handle;
    }

    private void start(AttentionPool pool, AttentionPool.Member member, GenerateRequest request,
                       GenerationListener listener, long startNanos, int attempt) {
        String id = request.getRequestId();
        AttentionServiceGrpc.newStub(member.channel()).generate(request, new ClientResponseObserver<GenerateRequest,
                GenerateEvent>() {
            private boolean ended;

            @Override
            public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                call = requestStream;
            }

            @Override
            public void onNext(GenerateEvent e) {
                if (ended) return;
                if (e.hasToken()) {
                    listener.token(e.getToken().getIndex(), e.getToken().getTokenId());
                } else if (e.hasCompleted()) {
                    end();
                    Completion c = e.getCompleted();
                    FinishReason reason = GenerationWire.finishReason(c);
                    RequestIds.log(LOG, reason == FinishReason.ERROR ? Logger.Level.WARN : Logger.Level.INFO, id,
                            "request %s on attention service %s: finish %s, %d prompt + %d generated tokens, %d ms%s", id,
                            member.address(), reason.wireName(), c.getPromptTokens(), c.getTokenIdsCount(),
                            (System.nanoTime() - startNanos) / 1_000_000,
                            c.getErrorMessage().isEmpty() ? "" : ": " + c.getErrorMessage());
                    listener.completed(c, member.address());
                }
            }

            @Override
            public void onError(Throwable t) {
                if (ended) return;
                Status s = Status.fromThrowable(t);
                if (s.getCode() == Status.Code.ALREADY_EXISTS && attempt < ALREADY_EXISTS_ATTEMPTS) {
                    ended = true;
                    pool.retryLater(() -> start(pool, member, request, listener, startNanos, attempt + 1),
                            ALREADY_EXISTS_RETRY_MS);
                    return;
                }
                end();
                String message = "attention service " + member.address() + ": " + s.getCode()
                        + (s.getDescription() == null ? "" : ": " + s.getDescription());
                RequestIds.log(LOG, s.getCode() == Status.Code.CANCELLED ? Logger.Level.INFO : Logger.Level.WARN, id,
                        "request %s failed after %d ms: %s", id, (System.nanoTime() - startNanos) / 1_000_000, message);
                listener.failed(s, message);
            }

            @Override
            public void onCompleted() {
                if (ended) return;
                end();
                String message = "attention service " + member.address() + " ended the stream without a completion";
                RequestIds.log(LOG, Logger.Level.WARN, id, "request %s: %s", id, message);
                listener.failed(Status.INTERNAL, message);
            }

            private void end() {
                ended = true;
                pool.release(member);
            }
        });
    }

    /** Cancels the call (and so the generation); the listener then hears a {@code CANCELLED} failure. */
    public void cancel(String why) {
        ClientCallStreamObserver<GenerateRequest> c = call;
        if (c != null) c.cancel(why, null);
    }
}
