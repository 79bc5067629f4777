package dev.moemesh.attention.tls;

import dev.moemesh.tls.MeshAccess;
import dev.moemesh.tls.RoleGuard;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.inject.Singleton;

/**
 * With mesh TLS on, admits each call only from the roles {@link MeshAccess#attentionService} allows
 * ({@code Generate} and {@code Cancel} from the doors: the router and the orchestrator); refusals
 * counted as {@code moemesh_grpc_refusals_total{method,reason}}.
 */
@Singleton
@GlobalInterceptor
public class MeshRoleGuard implements ServerInterceptor {

    private final RoleGuard guard; // null: plaintext, nothing to check

    MeshRoleGuard(MeshTlsSetup setup, MeterRegistry meters) {
        this.guard = setup.tls().isEmpty() ? null : MeshAccess.attentionService(refusal -> meters
                .counter("moemesh.grpc.refusals", "method", refusal.method(), "reason", refusal.reason()).increment());
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        return guard == null ? next.startCall(call, headers) : guard.interceptCall(call, headers, next);
    }
}
