package dev.moemesh.tls;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.NegotiationType;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;

import java.util.Objects;
import java.util.Optional;

/**
 * The one place channels between mesh processes are built: plaintext (a laptop, the default) or mutual TLS on this
 * process's {@link MeshTls}, each call carrying the caller's trace context ({@link MeshTraceContext}). Callers add
 * their own options (executor, message sizes) to the builder it returns.
 */
public final class MeshChannels {

    public static final MeshChannels PLAINTEXT = new MeshChannels(null);

    private final MeshTls tls; // null: plaintext

    private MeshChannels(MeshTls tls) {
        this.tls = tls;
    }

    public static MeshChannels tls(MeshTls tls) {
        return new MeshChannels(tls);
    }

    public static MeshChannels of(Optional<MeshTls> tls) {
        return tls.map(MeshChannels::tls).orElse(PLAINTEXT);
    }

    /**
     * @param target {@code host:port} or any gRPC target
     * @param server the role the server's certificate must name over TLS, or the handshake fails (the call gets
     *               {@code UNAVAILABLE}, the log one line naming both roles); plaintext proves nothing of the server
     */
    public NettyChannelBuilder forTarget(String target, MeshRole server) {
        return forTarget(target, server, null);
    }

    /**
     * As {@link #forTarget(String, MeshRole)}, to one instance of the role: over TLS a server certificate that names
     * instances must name {@code instance} (one per pod does; one per role names none and speaks for any).
     *
     * @param instance the instance dialed, as the placement names it; null or empty when unknown
     */
    public NettyChannelBuilder forTarget(String target, MeshRole server, String instance) {
        Objects.requireNonNull(server, "the role of the server dialed");
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(target).intercept(MeshTraceContext.INSTANCE);
        if (tls == null) return builder.usePlaintext();
        SslContext context = instance == null || instance.isEmpty() ? tls.clientContext(server)
                : tls.clientContext(server, instance);
        return builder.negotiationType(NegotiationType.TLS).sslContext(context).intercept(ServerRoleInStatus.INSTANCE);
    }

    public boolean isTls() {
        return tls != null;
    }

    public Optional<MeshTls> meshTls() {
        return Optional.ofNullable(tls);
    }

    /**
     * A handshake refused for the server's role reaches the call as {@code UNAVAILABLE: ssl exception}, the reason
     * only in its cause; this puts the reason (the expected and presented roles) in the status a caller logs.
     */
    private static final class ServerRoleInStatus implements ClientInterceptor {
        static final ServerRoleInStatus INSTANCE = new ServerRoleInStatus();

        @Override
        public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(MethodDescriptor<ReqT, RespT> method,
                                                                   CallOptions options, Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                @Override
                public void start(Listener<RespT> listener, Metadata headers) {
                    super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                        @Override
                        public void onClose(Status status, Metadata trailers) {
                            super.onClose(explained(status), trailers);
                        }
                    }, headers);
                }
            };
        }

        private static Status explained(Status status) {
            for (Throwable t = status.getCause(); t != null; t = t.getCause()) {
                if (t instanceof MeshPeerTrust.WrongServer refused) {
                    return status.withDescription(refused.getMessage());
                }
            }
            return status;
        }
    }

    @Override
    public String toString() {
        return tls == null ? "plaintext" : "mutual TLS";
    }
}
