package dev.moemesh.router.dispatch;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.client.AttentionPool;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

/**
 * One generation on an attention service through its streaming {@code Generate} call; {@link #cancel} cancels the
 * call, which cancels the generation on the service. Core's sampling parameters become the wire's here (the two
 * {@code SamplingParams} share a name, so the wire's is written out).
 */
public final class AttentionCall {
    private volatile ClientCallStreamObserver<GenerateRequest> call;

    private AttentionCall() {}

    /**
     * Starts the call on the least loaded member of the pool and returns at once; the listener hears on gRPC threads,
     * exactly one ending, after which the member is released back to the pool.
     */
    public static AttentionCall start(AttentionPool pool, String id, int[] promptIds, SamplingParams sampling,
                                      GenerationListener listener) {
        GenerateRequest request = request(id, promptIds, sampling);
        AttentionPool.Member member = pool.acquire();
        AttentionCall handle = new AttentionCall();
        AttentionServiceGrpc.newStub(member.channel()).generate(request, new ClientResponseObserver<GenerateRequest,
                GenerateEvent>() {
            private boolean ended;

            @Override
            public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                handle.call = requestStream;
            }

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
                end();
                Status s = Status.fromThrowable(t);
                listener.failed(s, "attention service " + member.address() + ": " + s.getCode()
                        + (s.getDescription() == null ? "" : ": " + s.getDescription()));
            }

            @Override
            public void onCompleted() {
                if (ended) return;
                end();
                listener.failed(Status.INTERNAL, "attention service " + member.address()
                        + " ended the stream without a completion");
            }

            private void end() {
                ended = true;
                pool.release(member);
            }
        });
        return handle;
    }

    private static GenerateRequest request(String id, int[] promptIds, SamplingParams s) {
        dev.moemesh.proto.SamplingParams.Builder sampling = dev.moemesh.proto.SamplingParams.newBuilder()
                .setMaxTokens(s.maxTokens()).setTemperature(s.temperature()).setTopK(s.topK()).setTopP(s.topP())
                .setSeed(s.seed()).setIgnoreEos(s.ignoreEos());
        for (int stop : s.stopIds()) sampling.addStopTokenIds(stop);
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(id).setSampling(sampling);
        for (int t : promptIds) request.addPromptTokenIds(t);
        return request.build();
    }

    /** Cancels the call (and so the generation); the listener then hears a {@code CANCELLED} failure. */
    public void cancel(String why) {
        ClientCallStreamObserver<GenerateRequest> c = call;
        if (c != null) c.cancel(why, null);
    }
}
