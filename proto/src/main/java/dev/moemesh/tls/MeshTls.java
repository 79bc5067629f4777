package dev.moemesh.tls;

import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * One process's mutual-TLS material: its own key and certificate (which name its role) and the CA it trusts. Servers
 * built on it require a client certificate from that CA; channels built on it present this one.
 *
 * <p>Quarkus services build it from their TLS registry entry {@code quarkus.tls.mesh.*}; the CLI and tests from PKCS12
 * files ({@link #pkcs12}).
 */
public final class MeshTls {

    private final RenewableKeys keys;
    private final TrustManagerFactory trust;
    private final Map<MeshRole, SslContext> clients; // by the role the server dialed must name
    private final X509TrustManager ca;
    private final SslContext server;

    private MeshTls(KeyManagerFactory keys, TrustManagerFactory trust) {
        this.keys = new RenewableKeys(keys);
        this.trust = trust;
        try {
            this.ca = caTrust(trust);
            Map<MeshRole, SslContext> clients = new EnumMap<>(MeshRole.class);
            for (MeshRole server : MeshRole.values()) {
                clients.put(server, GrpcSslContexts.forClient().keyManager(this.keys)
                        .trustManager(new MeshPeerTrust(ca, server)).build());
            }
            this.clients = Collections.unmodifiableMap(clients);
            this.server = GrpcSslContexts.configure(SslContextBuilder.forServer(this.keys)).trustManager(trust)
                    .clientAuth(ClientAuth.REQUIRE).build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("the mesh TLS keys cannot make a TLS context: " + e.getMessage(), e);
        }
    }

    private static X509TrustManager caTrust(TrustManagerFactory trust) {
        for (TrustManager m : trust.getTrustManagers()) {
            if (m instanceof X509TrustManager x509) return x509;
        }
        throw new IllegalArgumentException("the mesh trust store gives no X.509 trust manager");
    }

    public static MeshTls of(KeyManagerFactory keys, TrustManagerFactory trust) {
        return new MeshTls(keys, trust);
    }

    /**
     * @param keyStore a PKCS12 file with this process's key and certificate chain
     * @param trustStore a PKCS12 file with the CA certificates it trusts
     */
    public static MeshTls pkcs12(Path keyStore, char[] keyPassword, Path trustStore, char[] trustPassword) {
        try {
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(load(keyStore, keyPassword), keyPassword);
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(load(trustStore, trustPassword));
            return new MeshTls(keys, trust);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot read the mesh TLS key store " + keyStore + " or trust store "
                    + trustStore + ": " + e.getMessage(), e);
        }
    }

    private static KeyStore load(Path file, char[] password) throws GeneralSecurityException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            store.load(in, password);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return store;
    }

    /**
     * for channels to a {@code server}: presents this process's certificate, trusts servers the mesh CA signed that
     * name that role, at whatever address they are dialed ({@link MeshPeerTrust})
     */
    public SslContext clientContext(MeshRole server) {
        return clients.get(server);
    }

    /**
     * for a channel to one instance of a {@code server} role (an expert service the placement names): as above, and a
     * server certificate that names instances must name {@code instance} ({@link MeshPeerTrust}). A new context each
     * time, not kept: a channel keeps its own for as long as it lives, and instances come and go (every pod a new one)
     */
    public SslContext clientContext(MeshRole server, String instance) {
        try {
            return GrpcSslContexts.forClient().keyManager(keys).trustManager(new MeshPeerTrust(ca, server, instance))
                    .build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("the mesh TLS keys cannot make a TLS context: " + e.getMessage(), e);
        }
    }

    /** for servers: requires a client certificate from the mesh CA */
    public SslContext serverContext() {
        return server;
    }

    /**
     * Presents {@code renewed} (this process's renewed key and certificate) from the next TLS handshake on, in every
     * channel and server built on this: connections open keep the certificate they were made with, as do sessions
     * resumed from them (the JDK's session tickets live a day at most, well inside a renewal's margin).
     */
    public void renew(KeyManagerFactory renewed) {
        keys.renew(renewed);
    }

    public TrustManagerFactory trust() {
        return trust;
    }
}
