package dev.moemesh.tls.quarkus;

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
 * With mesh TLS on the gRPC server, admits each call to a mesh service (control plane, expert, attention) only from
 * the roles {@link MeshAccess} allows; refusals counted as {@code moemesh_grpc_refusals_total{method,reason}}. Other
 * services (health, reflection) pass.
 */
@Singleton
@GlobalInterceptor
public class MeshRoleGuard implements ServerInterceptor {

    private final RoleGuard guard; // null: plaintext, nothing to check

    MeshRoleGuard(MeshTlsSetup setup, MeterRegistry meters) {
        this.guard = setup.serverTls().isEmpty() ? null : MeshAccess.mesh(refusal -> meters
                .counter("moemesh.grpc.refusals", "method", refusal.method(), "reason", refusal.reason()).increment());
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        return guard == null ? next.startCall(call, headers) : guard.interceptCall(call, headers, next);
    }
}
