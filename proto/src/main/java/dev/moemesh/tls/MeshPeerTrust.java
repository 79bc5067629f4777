package dev.moemesh.tls;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * How a channel checks the server it dials: signed by the mesh CA and naming a mesh role, whatever host it was
 * dialed at. Expert services are dialed at pod IPs (the placement names addresses, not host names), which no
 * issued certificate can name, so the host name check TLS clients make by default would fail those hops; what a
 * mesh process proves is the CA's signature and its role, and each server checks its callers' roles
 * ({@link RoleGuard}). Clients' certificates, on the server side, are checked by the CA alone, as before.
 */
final class MeshPeerTrust extends X509ExtendedTrustManager {

    private final X509TrustManager ca;

    MeshPeerTrust(X509TrustManager ca) {
        this.ca = ca;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        ca.checkServerTrusted(chain, authType); // the chain to the mesh CA, validity, key usage; no host name
        if (MeshIdentity.of(chain[0]).roles().isEmpty()) {
            throw new CertificateException("the server's certificate (" + chain[0].getSubjectX500Principal().getName()
                    + ") is signed by the mesh CA but names no mesh role (a urn:moemesh:role: URI)");
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
