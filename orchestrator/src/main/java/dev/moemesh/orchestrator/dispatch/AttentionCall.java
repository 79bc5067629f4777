package dev.moemesh.orchestrator.dispatch;

import dev.moemesh.orchestrator.ingest.InferenceRequest;
import dev.moemesh.client.AttentionPool;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.SamplingParams;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

/** Runs one request on an attention service with the streaming {@code Generate} call, telling a listener what happens. */
public final class AttentionCall {
    /** Error code of a call that failed in transport or on the service (gRPC status in the message). */
    public static final String ATTENTION_FAILED = "attention_failed";
    /** Error code of a request the attention service refused as it stands (e.g. a token outside the vocabulary). */
    public static final String REJECTED = "rejected";
    /**
     * How long a request id the service still runs is retried: after a restart of the orchestrator, the generation
     * it abandoned is cancelled at the service's next step, and the request served again may arrive before that.
     */
    private static final long ALREADY_EXISTS_RETRY_MS = 100;
    private static final int ALREADY_EXISTS_ATTEMPTS = 50;

    private AttentionCall() {}

    /**
     * Starts the call and returns at once; the listener hears on gRPC threads, exactly one ending, after which the
     * member is released back to the pool.
     */
    public static void start(AttentionPool pool, AttentionPool.Member member, InferenceRequest r, int[] promptIds,
                             GenerationListener listener) {
        start(pool, member, r, promptIds, listener, 1);
    }

    private static void start(AttentionPool pool, AttentionPool.Member member, InferenceRequest r, int[] promptIds,
                              GenerationListener listener, int attempt) {
        SamplingParams.Builder sampling = SamplingParams.newBuilder().setMaxTokens(r.maxTokens())
                .setTemperature(r.temperature()).setTopK(r.topK()).setTopP(r.topP()).setSeed(r.seed())
                .setIgnoreEos(r.ignoreEos());
        for (int stop : r.stopTokenIds()) sampling.addStopTokenIds(stop);
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(r.id()).setSampling(sampling);
        for (int t : promptIds) request.addPromptTokenIds(t);
        AttentionServiceGrpc.newStub(member.channel()).generate(request.build(), new StreamObserver<>() {
            private boolean ended;

            @Override
            public void onNext(GenerateEvent e) {
                if (ended) return;
                if (e.hasToken()) {
                    listener.token(e.getToken().getIndex(), e.getToken().getTokenId());
                } else if (e.hasCompleted()) {
                    end();
                    listener.completed(e.getCompleted());
                }
            }

            @Override
            public void onError(Throwable t) {
                if (ended) return;
                Status s = Status.fromThrowable(t);
                if (s.getCode() == Status.Code.ALREADY_EXISTS && attempt < ALREADY_EXISTS_ATTEMPTS) {
                    ended = true;
                    pool.retryLater(() -> start(pool, member, r, promptIds, listener, attempt + 1),
                            ALREADY_EXISTS_RETRY_MS);
                    return;
                }
                end();
                boolean refused = s.getCode() == Status.Code.INVALID_ARGUMENT
                        || s.getCode() == Status.Code.FAILED_PRECONDITION;
                listener.failed(refused ? REJECTED : ATTENTION_FAILED, "attention service " + member.address() + ": "
                        + s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription()));
            }

            @Override
            public void onCompleted() {
                if (ended) return;
                end();
                listener.failed(ATTENTION_FAILED, "attention service " + member.address()
                        + " ended the stream without a completion");
            }

            private void end() {
                ended = true;
                pool.release(member);
            }
        });
    }
}
