package dev.moemesh.tls;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;

/**
 * This process's key and certificate as every TLS handshake asks for them, renewable in place: the TLS contexts, the
 * channels and the gRPC server built on it present the renewed certificate on their next handshake, without being
 * rebuilt (a channel lives as long as its peer does, the separate gRPC server as long as the process).
 */
final class RenewableKeys extends X509ExtendedKeyManager {

    private volatile X509KeyManager current;
    // a handshake may choose an alias of the keys just replaced and ask for its chain after: answered from these
    private volatile X509KeyManager previous;

    RenewableKeys(KeyManagerFactory keys) {
        this.current = of(keys);
        this.previous = current;
    }

    void renew(KeyManagerFactory keys) {
        X509KeyManager renewed = of(keys);
        previous = current;
        current = renewed;
    }

    private static X509KeyManager of(KeyManagerFactory keys) {
        for (KeyManager m : keys.getKeyManagers()) {
            if (m instanceof X509KeyManager x509) return x509;
        }
        throw new IllegalArgumentException("the mesh key store gives no X.509 key manager");
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        X509KeyManager keys = current;
        return keys instanceof X509ExtendedKeyManager e ? e.chooseEngineClientAlias(keyType, issuers, engine)
                : keys.chooseClientAlias(keyType, issuers, null);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        X509KeyManager keys = current;
        return keys instanceof X509ExtendedKeyManager e ? e.chooseEngineServerAlias(keyType, issuers, engine)
                : keys.chooseServerAlias(keyType, issuers, null);
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return current.getClientAliases(keyType, issuers);
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return current.chooseClientAlias(keyType, issuers, socket);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return current.getServerAliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return current.chooseServerAlias(keyType, issuers, socket);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        X509Certificate[] chain = current.getCertificateChain(alias);
        return chain != null ? chain : previous.getCertificateChain(alias);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        PrivateKey key = current.getPrivateKey(alias);
        return key != null ? key : previous.getPrivateKey(alias);
    }
}
