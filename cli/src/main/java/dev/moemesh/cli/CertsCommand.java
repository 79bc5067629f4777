package dev.moemesh.cli;

import dev.moemesh.tls.MeshCertificates;
import dev.moemesh.tls.MeshRole;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code mesh certs DIR}: a new mesh CA and a certificate per role, for services started by hand. */
@Command(name = "certs", mixinStandardHelpOptions = true,
        description = {"Writes a new local CA for mutual TLS inside the mesh and one certificate per role (attention,"
                + " expert, router, orchestrator, operator; SAN URI urn:moemesh:role:<role>) into DIR: ca.p12 and"
                + " ca.pem, <role>.p12, and <role>.pem with <role>-key.pem. Point a service at them with"
                + " quarkus.tls.mesh.key-store.p12.path=DIR/<role>.p12 and quarkus.tls.mesh.trust-store.p12.path=DIR/ca.p12"
                + " (docs/security.md).",
                "The certificates name no instance: one per role admits any instance of that role to register, and only"
                        + " an operator to drain."})
final class CertsCommand implements Callable<Integer> {

    @Parameters(paramLabel = "DIR", description = "where the files go (created; existing files of the same names are replaced)")
    Path dir;

    @Option(names = "--hosts", split = ",", defaultValue = "localhost,127.0.0.1",
            description = "DNS names and IP addresses peers reach the services by (default ${DEFAULT-VALUE})")
    List<String> hosts;

    @Option(names = "--password", defaultValue = "moemesh-local", description = "of the PKCS12 files (default ${DEFAULT-VALUE})")
    String password;

    @Override
    public Integer call() throws IOException {
        Files.createDirectories(dir);
        char[] secret = password.toCharArray();
        MeshCertificates ca = MeshCertificates.newCa("moemesh CA");
        ca.writeTrustStore(dir.resolve("ca.p12"), secret);
        ca.writeCertificatePem(dir.resolve("ca.pem"));
        for (MeshRole role : MeshRole.values()) {
            MeshCertificates.Issued issued = ca.issue(role.label(), Set.of(role), Set.of(), hosts);
            issued.writePkcs12(dir.resolve(role.label() + ".p12"), secret);
            issued.writePem(dir.resolve(role.label() + ".pem"), dir.resolve(role.label() + "-key.pem"));
        }
        System.out.println("wrote a new CA and a certificate for each of " + List.of(MeshRole.values()).stream()
                .map(MeshRole::label).toList() + " to " + dir + " (valid for " + hosts + ")");
        return 0;
    }
}
