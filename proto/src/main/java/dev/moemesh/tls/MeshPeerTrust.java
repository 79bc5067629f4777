package dev.moemesh.tls;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

import org.jboss.logging.Logger;

/**
 * How a channel checks the server it dials: signed by the mesh CA and naming the role the channel means to call,
 * whatever host it was dialed at. Expert services are dialed at pod IPs (the placement names addresses, not host
 * names), which no issued certificate can name, so the host name check TLS clients make by default would fail those
 * hops; what a mesh process proves is the CA's signature and its role. Without the role, any holder of a mesh
 * certificate (a router's, stolen) could serve at an expert's address and be sent its hidden states. Clients'
 * certificates, on the server side, are checked by the CA alone: each server checks its callers' roles per RPC
 * ({@link RoleGuard}).
 */
final class MeshPeerTrust extends X509ExtendedTrustManager {

    private static final Logger LOG = Logger.getLogger(MeshPeerTrust.class);

    /**
     * A server of the mesh CA that does not name the role the channel expects, or speaks for other instances than the
     * one it dials: the handshake's failure.
     */
    static final class WrongServer extends CertificateException {
        WrongServer(String message) {
            super(message);
        }
    }

    private final X509TrustManager ca;
    private final MeshRole expected;
    private final String instance; // null: any instance of the role

    MeshPeerTrust(X509TrustManager ca, MeshRole expected) {
        this(ca, expected, null);
    }

    /**
     * @param instance the instance the channel dials (an expert service's, as the placement names it): a certificate
     *                 that names instances must name it; one that names none (one per role) speaks for any
     */
    MeshPeerTrust(X509TrustManager ca, MeshRole expected, String instance) {
        this.ca = ca;
        this.expected = expected;
        this.instance = instance;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServer(chain, authType, engine == null || engine.getPeerHost() == null ? "a server"
                : "the server at " + engine.getPeerHost() + ":" + engine.getPeerPort());
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServer(chain, authType, socket == null ? "a server" : "the server at " + socket.getRemoteSocketAddress());
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        checkServer(chain, authType, "a server");
    }

    private void checkServer(X509Certificate[] chain, String authType, String server) throws CertificateException {
        ca.checkServerTrusted(chain, authType); // the chain to the mesh CA, validity, key usage; no host name
        MeshIdentity presented = MeshIdentity.of(chain[0]);
        if (!presented.has(expected)) {
            WrongServer refused = new WrongServer("refused " + server + ": expected a certificate"
                    + " naming role " + expected.label() + ", it presents " + presented.rolesLabel() + " ("
                    + presented.subject() + ", signed by the mesh CA); nothing is sent to it");
            LOG.warn(refused.getMessage());
            throw refused;
        }
        if (instance != null && !presented.instances().isEmpty() && !presented.instances().contains(instance)) {
            WrongServer refused = new WrongServer("refused " + server + ": expected the " + expected.label()
                    + " instance '" + instance + "', its certificate speaks for " + presented.instances() + " ("
                    + presented.subject() + ", signed by the mesh CA); nothing is sent to it");
            LOG.warn(refused.getMessage());
            throw refused;
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        ca.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        ca.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        ca.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return ca.getAcceptedIssuers();
    }
}
