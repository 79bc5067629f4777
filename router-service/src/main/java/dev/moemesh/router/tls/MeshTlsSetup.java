package dev.moemesh.router.tls;

import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshTls;
import io.quarkus.tls.TlsConfigurationRegistry;
import io.vertx.core.Vertx;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.util.Optional;

import org.jboss.logging.Logger;

/**
 * The router's calls into the mesh (its attention services) over mutual TLS when the TLS registry holds
 * {@code quarkus.tls.mesh.*}: the router certificate ({@code urn:moemesh:role:router}) and the mesh CA. Its own doors
 * (REST, gRPC) are not this: they take API keys from clients outside the mesh.
 */
@Singleton
public class MeshTlsSetup {

    private static final Logger LOG = Logger.getLogger(MeshTlsSetup.class);

    @Produces
    @Singleton
    MeshChannels channels(TlsConfigurationRegistry registry, Vertx vertx) {
        Optional<MeshTls> tls = registry.get("mesh").map(config -> {
            if (config.getKeyStoreOptions() == null || config.getTrustStoreOptions() == null) {
                throw new IllegalStateException("quarkus.tls.mesh needs a key-store (the router's certificate) and a "
                        + "trust-store (the mesh CA)");
            }
            try {
                return MeshTls.of(config.getKeyStoreOptions().getKeyManagerFactory(vertx),
                        config.getTrustStoreOptions().getTrustManagerFactory(vertx));
            } catch (Exception e) {
                throw new IllegalStateException("quarkus.tls.mesh: " + e.getMessage(), e);
            }
        });
        LOG.infof("calls to the attention services: %s", tls.isPresent() ? "mutual TLS (quarkus.tls.mesh)" : "plaintext");
        return MeshChannels.of(tls);
    }
}
