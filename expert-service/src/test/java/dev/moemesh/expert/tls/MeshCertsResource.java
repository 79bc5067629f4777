package dev.moemesh.expert.tls;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.tls.MeshCertificates;
import dev.moemesh.tls.MeshRole;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Starts the expert service on mutual TLS (quarkus.tls.mesh, its own expert certificate) and writes the callers'
 * certificates next to it: {@code <role>.p12} from the same CA, {@code stranger.p12} an attention certificate from
 * another CA, {@code ca.p12} the trust store, {@code expert-renewed.p12} the expert's certificate renewed. All with
 * the password {@link #PASSWORD}.
 */
public class MeshCertsResource implements QuarkusTestResourceLifecycleManager {
    static final String PASSWORD = "test-password";

    @Override
    public Map<String, String> start() {
        try {
            Path dir = Files.createTempDirectory("mesh-certs");
            char[] password = PASSWORD.toCharArray();
            MeshCertificates ca = MeshCertificates.newCa("moemesh test CA");
            ca.writeTrustStore(dir.resolve("ca.p12"), password);
            List<String> local = List.of("localhost", "127.0.0.1");
            ca.issue("expert-0", Set.of(MeshRole.EXPERT), Set.of("expert-0"), local)
                    .writePkcs12(dir.resolve("expert.p12"), password);
            // as cert-manager renews it: the same name and roles, a new key
            ca.issue("expert-0", Set.of(MeshRole.EXPERT), Set.of("expert-0"), local)
                    .writePkcs12(dir.resolve("expert-renewed.p12"), password);
            for (MeshRole role : List.of(MeshRole.ATTENTION, MeshRole.ROUTER, MeshRole.ORCHESTRATOR)) {
                ca.issue(role.label() + "-0", Set.of(role), Set.of(), local)
                        .writePkcs12(dir.resolve(role.label() + ".p12"), password);
            }
            MeshCertificates.newCa("someone else's CA").issue("attention-0", Set.of(MeshRole.ATTENTION), Set.of(), local)
                    .writePkcs12(dir.resolve("stranger.p12"), password);
            int port;
            try (ServerSocket socket = new ServerSocket(0)) {
                port = socket.getLocalPort();
            }
            return Map.of("expert.model-dir", TestModels.tiny(Preset.TINY_V3).toString(),
                    "quarkus.grpc.server.test-port", Integer.toString(port),
                    "quarkus.tls.mesh.key-store.p12.path", dir.resolve("expert.p12").toString(),
                    "quarkus.tls.mesh.key-store.p12.password", PASSWORD,
                    "quarkus.tls.mesh.trust-store.p12.path", dir.resolve("ca.p12").toString(),
                    "quarkus.tls.mesh.trust-store.p12.password", PASSWORD,
                    "test.mesh-certs", dir.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void stop() {
        // a temporary directory of test keys
    }
}
