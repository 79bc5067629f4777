package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.tls.MeshIdentity;
import dev.moemesh.tls.MeshRole;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertsCommandTest {

    @Test
    void writesACaAndACertificatePerRoleSignedByIt(@TempDir Path dir) throws Exception {
        MeshCliTest.Run r = MeshCliTest.run("certs", dir.toString(), "--hosts", "localhost,10.0.0.7,expert.mesh.svc",
                "--password", "pw");
        assertEquals(0, r.code(), r.err());
        X509Certificate ca = (X509Certificate) load(dir.resolve("ca.p12")).getCertificate("mesh-ca");
        for (MeshRole role : MeshRole.values()) {
            KeyStore store = load(dir.resolve(role.label() + ".p12"));
            X509Certificate cert = (X509Certificate) store.getCertificate("mesh");
            cert.verify(ca.getPublicKey()); // signed by the CA written beside it
            assertEquals(Set.of(role), MeshIdentity.of(cert).roles());
            assertTrue(cert.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("10.0.0.7")));
            assertTrue(cert.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("expert.mesh.svc")));
            assertTrue(Files.readString(dir.resolve(role.label() + ".pem")).startsWith("-----BEGIN CERTIFICATE-----"));
            assertTrue(Files.readString(dir.resolve(role.label() + "-key.pem")).startsWith("-----BEGIN PRIVATE KEY-----"));
        }
    }

    private static KeyStore load(Path file) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            store.load(in, "pw".toCharArray());
        }
        return store;
    }
}
