package dev.moemesh.router.api;

import dev.moemesh.router.ApiKeys;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Optional;

/** Refuses a gRPC call without a valid {@code authorization: Bearer <key>} header when API keys are set. */
@ApplicationScoped
public class ApiKeyInterceptor implements ServerInterceptor {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Inject
    ApiKeys apiKeys;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        Optional<String> refusal = apiKeys.refusal(headers.get(AUTHORIZATION), "grpc");
        if (refusal.isEmpty()) return next.startCall(call, headers);
        call.close(Status.UNAUTHENTICATED.withDescription(refusal.get()), new Metadata());
        return new ServerCall.Listener<>() {};
    }
}
