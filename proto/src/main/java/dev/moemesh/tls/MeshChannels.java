package dev.moemesh.tls;

import io.grpc.netty.NegotiationType;
import io.grpc.netty.NettyChannelBuilder;

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

    /** @param target {@code host:port} or any gRPC target */
    public NettyChannelBuilder forTarget(String target) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(target).intercept(MeshTraceContext.INSTANCE);
        return tls == null ? builder.usePlaintext()
                : builder.negotiationType(NegotiationType.TLS).sslContext(tls.clientContext());
    }

    public boolean isTls() {
        return tls != null;
    }

    public Optional<MeshTls> meshTls() {
        return Optional.ofNullable(tls);
    }

    @Override
    public String toString() {
        return tls == null ? "plaintext" : "mutual TLS";
    }
}
