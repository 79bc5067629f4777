package dev.moemesh.expert.tls;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import dev.moemesh.tls.MeshTls;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.tls.CertificateUpdatedEvent;
import io.quarkus.tls.TlsConfiguration;
import io.quarkus.tls.TlsConfigurationRegistry;
import jakarta.enterprise.event.Event;
import jakarta.inject.Inject;

import java.io.InputStream;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The expert service as it runs with {@code quarkus.tls.mesh.*} set: its gRPC server takes mutual TLS only, and
 * admits each RPC only from the roles the mesh's table allows.
 */
@QuarkusTest
@WithTestResource(MeshCertsResource.class)
class ExpertServiceTlsTest {

    // every test class of the module is a bean of each test application: without MeshCertsResource this is unset
    @ConfigProperty(name = "test.mesh-certs", defaultValue = "unset")
    String certs;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int port;

    @Inject
    TlsConfigurationRegistry registry;

    @Inject
    Event<CertificateUpdatedEvent> updates;

    @Test
    void anAttentionCertificateReachesTheExperts() {
        // Describe answers; RunExperts reaches the service, which refuses the empty request itself (not the guard)
        assertTrue(call(as("attention"), ch -> ExpertServiceGrpc.newBlockingStub(ch)
                .describe(DescribeRequest.getDefaultInstance())).getHeldCount() > 0);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(as("attention"),
                ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(RunExpertsRequest.getDefaultInstance())));
        assertNotEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode(), e.toString());
        assertNotEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    }

    @Test
    void aRouterCertificateMayNotRunExpertsAndTheRefusalIsCounted() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(as("router"),
                ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(RunExpertsRequest.getDefaultInstance())));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
        assertEquals("refused ExpertService/RunExperts: it takes attention certificates, the caller's names [router] "
                + "(CN=router-0)", e.getStatus().getDescription());
        given().get("/q/metrics").then().statusCode(200).body(containsString(
                "moemesh_grpc_refusals_total{method=\"moemesh.v1.ExpertService/RunExperts\",reason=\"role\"}"));
    }

    @Test
    void anAttentionCertificateMayNotUnloadExperts() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(as("attention"),
                ch -> ExpertServiceGrpc.newBlockingStub(ch).unloadExperts(UnloadExpertsRequest.getDefaultInstance())));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
    }

    @Test
    void aPlaintextClientIsRefused() {
        ManagedChannel channel = MeshChannels.PLAINTEXT.forTarget("localhost:" + port, MeshRole.EXPERT).build();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ExpertServiceGrpc
                    .newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .describe(DescribeRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void aCertificateFromAnotherCaIsRefused() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(as("stranger"),
                ch -> ExpertServiceGrpc.newBlockingStub(ch).describe(DescribeRequest.getDefaultInstance())));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    }

    @Test
    void aCertificateRenewedOnDiskIsPresentedToNewCallersOnceTheRegistryReloadsItWithoutARestart() throws Exception {
        Path dir = Path.of(certs);
        BigInteger before = serial(dir.resolve("expert.p12"));
        BigInteger renewed = serial(dir.resolve("expert-renewed.p12"));
        assertEquals(before, serverCertificateSerial());
        // what quarkus.tls.mesh.reload-period does on its timer: reload the files, announce the new certificate
        Files.copy(dir.resolve("expert-renewed.p12"), dir.resolve("expert.p12"), StandardCopyOption.REPLACE_EXISTING);
        TlsConfiguration mesh = registry.get("mesh").orElseThrow();
        assertTrue(mesh.reload());
        updates.fire(new CertificateUpdatedEvent("mesh", mesh));
        assertEquals(renewed, serverCertificateSerial());
        // and a caller still gets its answer
        assertTrue(call(as("attention"), ch -> ExpertServiceGrpc.newBlockingStub(ch)
                .describe(DescribeRequest.getDefaultInstance())).getHeldCount() > 0);
    }

    /** The serial of the certificate the gRPC server presents in a new TLS handshake (an attention caller's). */
    private BigInteger serverCertificateSerial() throws Exception {
        char[] password = MeshCertsResource.PASSWORD.toCharArray();
        Path dir = Path.of(certs);
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(load(dir.resolve("attention.p12")), password);
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(load(dir.resolve("ca.p12")));
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("localhost", port)) {
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    private static BigInteger serial(Path keyStore) throws Exception {
        return ((X509Certificate) load(keyStore).getCertificate("mesh")).getSerialNumber();
    }

    private static KeyStore load(Path file) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            store.load(in, MeshCertsResource.PASSWORD.toCharArray());
        }
        return store;
    }

    private MeshTls as(String name) {
        char[] password = MeshCertsResource.PASSWORD.toCharArray();
        Path dir = Path.of(certs);
        return MeshTls.pkcs12(dir.resolve(name + ".p12"), password, dir.resolve("ca.p12"), password);
    }

    private <T> T call(MeshTls tls, Function<ManagedChannel, T> rpc) {
        ManagedChannel channel = MeshChannels.tls(tls).forTarget("localhost:" + port, MeshRole.EXPERT).build();
        try {
            return rpc.apply(channel);
        } finally {
            channel.shutdownNow();
        }
    }
}
