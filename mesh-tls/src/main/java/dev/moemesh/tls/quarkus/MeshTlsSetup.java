package dev.moemesh.tls.quarkus;

import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshTls;
import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.quarkus.tls.CertificateUpdatedEvent;
import io.quarkus.tls.TlsConfiguration;
import io.quarkus.tls.TlsConfigurationRegistry;
import io.vertx.core.Vertx;
import io.vertx.grpc.VertxServerBuilder;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.util.Optional;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Mutual TLS inside the mesh, from the TLS registry entry {@code quarkus.tls.mesh.*} (key store: this service's role
 * certificate; trust store: the mesh CA). Present: every channel this service builds into the mesh presents its
 * certificate ({@link MeshChannels}, for injection) and, unless {@code moemesh.tls.mesh-server=false} (the router,
 * whose gRPC server is a public door), its gRPC server requires client certificates from that CA. Absent: plaintext
 * (a laptop).
 */
@Singleton
public class MeshTlsSetup implements ServerBuilderCustomizer<VertxServerBuilder> {

    private static final Logger LOG = Logger.getLogger(MeshTlsSetup.class);
    /** the TLS registry's name for the mesh's configuration: {@code quarkus.tls.mesh.*} */
    public static final String CONFIGURATION = "mesh";

    private final Optional<MeshTls> tls;
    private final boolean server;
    private final Vertx vertx;

    MeshTlsSetup(TlsConfigurationRegistry registry, Vertx vertx,
                 @ConfigProperty(name = "moemesh.tls.mesh-server", defaultValue = "true") boolean server) {
        this.tls = registry.get(CONFIGURATION).map(c -> meshTls(c, vertx));
        this.server = server;
        this.vertx = vertx;
        LOG.infof(server ? "mesh gRPC: %s" : "calls into the mesh: %s",
                tls.isPresent() ? "mutual TLS (quarkus.tls.mesh)" : "plaintext");
    }

    private static MeshTls meshTls(TlsConfiguration config, Vertx vertx) {
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

    /**
     * The registry reloaded {@code quarkus.tls.mesh} (every {@code quarkus.tls.mesh.reload-period}, e.g. after
     * cert-manager renewed the files): the gRPC server and every channel present the renewed certificate from their
     * next handshake on, without a restart.
     */
    void renewed(@Observes CertificateUpdatedEvent updated) {
        if (!CONFIGURATION.equals(updated.name()) || tls.isEmpty()) return;
        try {
            tls.get().renew(updated.tlsConfiguration().getKeyStoreOptions().getKeyManagerFactory(vertx));
            LOG.info("mesh TLS: quarkus.tls.mesh reloaded; new connections present its certificate now");
        } catch (Exception e) {
            LOG.errorf("mesh TLS: the reloaded quarkus.tls.mesh key store cannot be used (%s); connections keep "
                    + "presenting the certificate loaded before", e.getMessage());
        }
    }

    /** present when this service's gRPC server takes mutual TLS (and so checks roles) */
    public Optional<MeshTls> serverTls() {
        return server ? tls : Optional.empty();
    }

    @Produces
    @Singleton
    MeshChannels channels() {
        return MeshChannels.of(tls);
    }

    @Override
    public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
        serverTls().ifPresent(t -> builder.nettyBuilder().sslContext(t.serverContext()));
    }
}
