package dev.moemesh.attention.tls;

import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshTls;
import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.quarkus.tls.TlsConfiguration;
import io.quarkus.tls.TlsConfigurationRegistry;
import io.vertx.core.Vertx;
import io.vertx.grpc.VertxServerBuilder;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.util.Optional;

import org.jboss.logging.Logger;

/**
 * Mutual TLS inside the mesh, from the TLS registry entry {@code quarkus.tls.mesh.*} (key store: this service's role
 * certificate; trust store: the mesh CA). Present: the gRPC server requires client certificates from that CA and every
 * channel this service builds presents its own. Absent: plaintext (a laptop).
 */
@Singleton
public class MeshTlsSetup implements ServerBuilderCustomizer<VertxServerBuilder> {

    private static final Logger LOG = Logger.getLogger(MeshTlsSetup.class);
    public static final String CONFIGURATION = "mesh";

    private final Optional<MeshTls> tls;

    MeshTlsSetup(TlsConfigurationRegistry registry, Vertx vertx) {
        this.tls = registry.get(CONFIGURATION).map(c -> meshTls(c, vertx));
        LOG.infof("mesh gRPC: %s", tls.isPresent() ? "mutual TLS (quarkus.tls.mesh)" : "plaintext");
    }

    static MeshTls meshTls(TlsConfiguration config, Vertx vertx) {
        if (config.getKeyStoreOptions() == null || config.getTrustStoreOptions() == null) {
            throw new IllegalStateException("quarkus.tls.mesh needs a key-store (this service's certificate) and a "
                    + "trust-store (the mesh CA)");
        }
        try {
            return MeshTls.of(config.getKeyStoreOptions().getKeyManagerFactory(vertx),
                    config.getTrustStoreOptions().getTrustManagerFactory(vertx));
        } catch (Exception e) {
            throw new IllegalStateException("quarkus.tls.mesh: " + e.getMessage(), e);
        }
    }

    public Optional<MeshTls> tls() {
        return tls;
    }

    @Produces
    @Singleton
    MeshChannels channels() {
        return MeshChannels.of(tls);
    }

    @Override
    public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
        tls.ifPresent(t -> builder.nettyBuilder().sslContext(t.serverContext()));
    }
}
