package dev.moemesh.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import org.junit.jupiter.api.Test;

/**
 * A channel's check of the server it dialed, on certificate chains as a TLS handshake hands them over: the mesh CA's
 * signature and the role the channel expects, whatever host names the certificate holds.
 */
class MeshPeerTrustTest {

    private static final MeshCertificates CA = MeshCertificates.newCa("moemesh test CA");
    private static final MeshCertificates OTHER_CA = MeshCertificates.newCa("someone else's CA");
    private static final String AUTH = "ECDHE_ECDSA";

    @Test
    void aServerNamingTheExpectedRoleIsTrustedWhateverHostItNames() throws Exception {
        for (MeshRole role : MeshRole.values()) {
            trust(role).checkServerTrusted(chain(CA, "pod", Set.of(role), List.of("elsewhere.svc")), AUTH);
        }
        // a certificate may name several roles; it serves as each of them
        trust(MeshRole.EXPERT).checkServerTrusted(chain(CA, "both", Set.of(MeshRole.ATTENTION, MeshRole.EXPERT),
                List.of()), AUTH);
    }

    @Test
    void aServerOfTheMeshCaNamingAnotherRoleIsRefusedNamingBothRoles() {
        for (MeshRole expected : MeshRole.values()) {
            for (MeshRole presented : EnumSet.complementOf(EnumSet.of(expected))) {
                MeshPeerTrust.WrongServer e = assertThrows(MeshPeerTrust.WrongServer.class, () -> trust(expected)
                        .checkServerTrusted(chain(CA, presented.label() + "-0", Set.of(presented), List.of()), AUTH));
                assertEquals("refused a server: expected a certificate naming role " + expected.label()
                        + ", it presents [" + presented.label() + "] (CN=" + presented.label()
                        + "-0, signed by the mesh CA); nothing is sent to it", e.getMessage());
            }
        }
    }

    @Test
    void aServerOfTheMeshCaNamingNoRoleIsRefused() {
        MeshPeerTrust.WrongServer e = assertThrows(MeshPeerTrust.WrongServer.class, () -> trust(MeshRole.EXPERT)
                .checkServerTrusted(chain(CA, "stranger", Set.of(), List.of("localhost")), AUTH));
        assertEquals("refused a server: expected a certificate naming role expert, it presents [none] "
                + "(CN=stranger, signed by the mesh CA); nothing is sent to it", e.getMessage());
    }

    @Test
    void aServerOfAnotherCaIsRefusedBeforeItsRolesAreRead() {
        CertificateException e = assertThrows(CertificateException.class, () -> trust(MeshRole.EXPERT)
                .checkServerTrusted(chain(OTHER_CA, "expert-0", Set.of(MeshRole.EXPERT), List.of()), AUTH));
        assertFalse(e instanceof MeshPeerTrust.WrongServer, e.toString());
    }

    @Test
    void aServerDialedAsOneInstanceMustSpeakForItWhenItsCertificateNamesInstances() throws Exception {
        MeshPeerTrust dialingB = trust(MeshRole.EXPERT, "expert-b");
        dialingB.checkServerTrusted(chain(CA, "b", Set.of(MeshRole.EXPERT), Set.of("expert-b"), List.of()), AUTH);
        // one certificate per role names no instance: it speaks for every instance of its role
        dialingB.checkServerTrusted(chain(CA, "any", Set.of(MeshRole.EXPERT), Set.of(), List.of()), AUTH);
        // a certificate per pod, stolen from pod a, serving at b's address
        MeshPeerTrust.WrongServer e = assertThrows(MeshPeerTrust.WrongServer.class, () -> dialingB.checkServerTrusted(
                chain(CA, "a", Set.of(MeshRole.EXPERT), Set.of("expert-a"), List.of()), AUTH));
        assertEquals("refused a server: expected the expert instance 'expert-b', its certificate speaks for [expert-a]"
                + " (CN=a, signed by the mesh CA); nothing is sent to it", e.getMessage());
        // without an instance to expect (a fixed list of expert services), the role is all that is checked
        trust(MeshRole.EXPERT).checkServerTrusted(chain(CA, "a", Set.of(MeshRole.EXPERT), Set.of("expert-a"),
                List.of()), AUTH);
    }

    @Test
    void clientsAreCheckedForTheCaAloneTheirRolesAreTheRoleGuards() throws Exception {
        // a server's trust manager: a caller of any role, or none, passes the handshake; RoleGuard reads its roles
        trust(MeshRole.EXPERT).checkClientTrusted(chain(CA, "router-0", Set.of(MeshRole.ROUTER), List.of()), AUTH);
        trust(MeshRole.EXPERT).checkClientTrusted(chain(CA, "nobody", Set.of(), List.of()), AUTH);
        assertInstanceOf(CertificateException.class, assertThrows(Exception.class, () -> trust(MeshRole.EXPERT)
                .checkClientTrusted(chain(OTHER_CA, "attention-0", Set.of(MeshRole.ATTENTION), List.of()), AUTH)));
    }

    private static MeshPeerTrust trust(MeshRole expected) throws Exception {
        return trust(expected, null);
    }

    private static MeshPeerTrust trust(MeshRole expected, String instance) throws Exception {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(CA.trustStore());
        return new MeshPeerTrust((X509TrustManager) factory.getTrustManagers()[0], expected, instance);
    }

    private static X509Certificate[] chain(MeshCertificates ca, String name, Set<MeshRole> roles, List<String> hosts) {
        return chain(ca, name, roles, Set.of(), hosts);
    }

    private static X509Certificate[] chain(MeshCertificates ca, String name, Set<MeshRole> roles, Set<String> instances,
                                           List<String> hosts) {
        MeshCertificates.Issued issued = ca.issue(name, roles, instances, hosts);
        return new X509Certificate[] {issued.certificate(), issued.ca()};
    }
}
