package dev.moemesh.router.api;

import dev.moemesh.client.AttentionCall;
import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.tokenizer.TextDeltas;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.TokenDelta;
import dev.moemesh.proto.TokenEvent;
import dev.moemesh.proto.TokenLogprobs;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.QuotaRefusal;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The gRPC door: {@code Complete} answers a whole generation, {@code Generate} streams its tokens then the answer;
 * the same checks and limits as the REST door, its refusals as gRPC statuses naming the field.
 */
@GrpcService
@RegisterInterceptor(ApiKeyInterceptor.class)
public class InferenceGrpcService extends InferenceServiceGrpc.InferenceServiceImplBase {
    @Inject
    Prompts prompts;

    @Inject
    AttentionPool pool;

    @Inject
    DoorMeters meters;

    @Inject
    DoorAdmission admission;

    @Override
    public void complete(InferenceRequest request, StreamObserver<InferenceResponse> response) {
        run(request, response, new Events<>(response) {
            @Override
            void answer(InferenceResponse answer) {
                response.onNext(answer);
            }
        });
    }

    @Override
    public void generate(InferenceRequest request, StreamObserver<InferenceEvent> events) {
        run(request, events, new Events<>(events) {
            private final TextDeltas deltas = prompts.textDeltas();

            @Override
            void told(TokenEvent t) {
                TokenDelta.Builder delta = TokenDelta.newBuilder().setTokenId(t.getTokenId()).setIndex(t.getIndex())
                        .setText(deltas.add(t.getTokenId()));
                if (t.hasLogprobs()) delta.setLogprobs(t.getLogprobs());
                events.onNext(InferenceEvent.newBuilder().setId(id).setToken(delta).build());
            }

            @Override
            void answer(InferenceResponse answer) {
                events.onNext(InferenceEvent.newBuilder().setId(id).setCompleted(answer).build());
            }
        });
    }

    private <T> void run(InferenceRequest request, StreamObserver<T> observer, Events<T> events) {
        GenerationRequest generation;
        KeyQuota key = ApiKeyInterceptor.KEY.get();
        try {
            generation = InferenceRequests.toGeneration(events.id, request, prompts, key);
            key.take(1, "grpc");
        } catch (InvalidRequest e) {
            Status s = InvalidRequest.MODEL_NOT_FOUND.equals(e.code()) ? Status.NOT_FOUND : Status.INVALID_ARGUMENT;
            observer.onError(s.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (QuotaRefusal e) {
            observer.onError(e.grpc());
            return;
        }
        // the attention call starts in this call's gRPC Context, so a client that cancels (or whose deadline passes)
        // cancels it and with it the generation; what is sent after that is dropped, not thrown
        ((ServerCallStreamObserver<T>) observer).setOnCancelHandler(() -> {});
        GenerationListener admitted = admission.admit(key.holding(meters.observe("grpc", events)));
        if (admitted == null) {
            key.giveBack(1);
            observer.onError(admission.refusal().asRuntimeException());
            return;
        }
        AttentionCall.startIn(Context.current(), pool, GenerationWire.request(generation.id(), generation.promptIds(),
                generation.sampling()), admitted);
    }

    /** One call's generation events, ended the same way for both rpcs; subclasses say what a token and the answer send. */
    private abstract class Events<T> implements GenerationListener {
        final String id = "inf-" + UUID.randomUUID();
        private final StreamObserver<T> observer;
        private final List<TokenLogprobs> logprobs = new ArrayList<>(); // the answer's, when asked for

        Events(StreamObserver<T> observer) {
            this.observer = observer;
        }

        abstract void answer(InferenceResponse answer);

        /** What a token sends: nothing unless streamed. */
        void told(TokenEvent token) {}

        @Override
        public void token(TokenEvent token) {
            if (token.hasLogprobs()) logprobs.add(token.getLogprobs());
            told(token);
        }

        @Override
        public void completed(Completion c, String attentionService) {
            FinishReason reason = GenerationWire.finishReason(c);
            switch (reason) {
                case ERROR -> observer.onError(Status.UNAVAILABLE.withDescription("generation " + id
                        + " failed in the mesh: " + c.getErrorMessage()).asRuntimeException());
                case CANCELLED -> observer.onError(Status.CANCELLED.withDescription("generation " + id
                        + " was cancelled").asRuntimeException());
                default -> {
                    int[] ids = c.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                    answer(GenerationWire.finished(InferenceResponse.newBuilder(), reason).setId(id)
                            .setText(prompts.decode(ids)).addAllTokenIds(c.getTokenIdsList())
                            .setPromptTokens(c.getPromptTokens()).addAllLogprobs(logprobs).build());
                    observer.onCompleted();
                }
            }
        }

        @Override
        public void failed(Status status, String message) {
            // refusals for load keep their status: the client may retry (as 429 on the REST door)
            Status s = status.getCode() == Status.Code.INVALID_ARGUMENT || status.getCode() == Status.Code.CANCELLED
                    || DoorAdmission.isOverload(status) ? status : Status.UNAVAILABLE;
            observer.onError(s.withDescription(message).asRuntimeException());
        }
    }
}
