package dev.moemesh.router.api;

import dev.moemesh.router.ApiKeys;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.QuotaRefusal;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Optional;

/**
 * Refuses a gRPC call without a valid {@code authorization: Bearer <key>} header when API keys are set, or over its
 * key's rate; the call runs with its key's quota in {@link #KEY}.
 */
@ApplicationScoped
public class ApiKeyInterceptor implements ServerInterceptor {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** The quota of the call's API key. */
    static final Context.Key<KeyQuota> KEY = Context.key("moemesh-api-key-quota");

    @Inject
    ApiKeys apiKeys;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String authorization = headers.get(AUTHORIZATION);
        Optional<String> refusal = apiKeys.refusal(authorization, "grpc");
        if (refusal.isPresent()) {
            call.close(Status.UNAUTHENTICATED.withDescription(refusal.get()), new Metadata());
            return new ServerCall.Listener<>() {};
        }
        KeyQuota key = apiKeys.quotaOf(authorization);
        try {
            key.takeRate("grpc");
        } catch (QuotaRefusal e) {
            StatusRuntimeException s = e.grpc();
            call.close(s.getStatus(), s.getTrailers());
            return new ServerCall.Listener<>() {};
        }
        return Contexts.interceptCall(Context.current().withValue(KEY, key), call, headers, next);
    }
}
