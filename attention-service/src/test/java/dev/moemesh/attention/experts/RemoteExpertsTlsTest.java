package dev.moemesh.attention.experts;

import static dev.moemesh.attention.experts.EchoBatches.CONFIG;
import static dev.moemesh.attention.experts.EchoBatches.EXPERTS;
import static dev.moemesh.attention.experts.EchoBatches.LAYER;
import static dev.moemesh.attention.experts.EchoBatches.batch;
import static dev.moemesh.attention.experts.EchoBatches.runAllRowsBack;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.tls.MeshCertificates;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import dev.moemesh.tls.MeshTls;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RemoteExperts} over mutual TLS, to stand-in expert services on loopback that present certificates of one mesh
 * CA: the placement names the instance registered at each address, and a server whose certificate speaks for another
 * instance (a pod's certificate, stolen, serving at another pod's address) is sent nothing.
 */
class RemoteExpertsTlsTest {
    private static final String MODEL = "0123456789abcdef";
    private static final MeshCertificates CA = MeshCertificates.newCa("moemesh test CA");

    private final List<StandInExpertService> standIns = new ArrayList<>();
    private final RemoteExperts experts = new RemoteExperts(CONFIG, List.of(), PlacementTable.none(CONFIG), MODEL,
            Duration.ofSeconds(10), Duration.ofSeconds(30), MeshChannels.tls(certificate("attention-0",
                    MeshRole.ATTENTION)));

    @AfterEach
    void stop() {
        experts.close();
        standIns.forEach(StandInExpertService::close);
    }

    private static MeshTls certificate(String instance, MeshRole role) {
        return CA.issue(instance, Set.of(role), Set.of(instance), List.of("localhost")).meshTls();
    }

    /** An expert service presenting the certificate issued to {@code instance}. */
    private StandInExpertService servingAs(String instance) {
        StandInExpertService s = new StandInExpertService(certificate(instance, MeshRole.EXPERT).serverContext());
        standIns.add(s);
        return s;
    }

    /** Experts 0-3 of the layer, on the service at {@code address}, registered there as {@code instance}. */
    private static Placement published(long version, String address, String instance) {
        Placement.Builder p = Placement.newBuilder().setVersion(version).setModelFingerprint(MODEL);
        for (int e = 0; e < EXPERTS; e++) {
            ExpertReplicas.Builder r = p.addExpertsBuilder().setLayer(LAYER).setExpert(e);
            r.addReplicasBuilder().setAddress(address).setWeight(1).setInstanceId(instance);
        }
        return p.build();
    }

    @Test
    void theInstanceThePlacementNamesAtAnAddressIsServedThere() {
        StandInExpertService b = servingAs("expert-b");
        assertTrue(experts.usePlacement(published(10, b.address(), "expert-b")));
        runAllRowsBack(experts);
        assertEquals(1, b.requests.get());
    }

    @Test
    void aCertificateOfAnotherInstanceAtTheAddressIsSentNothing() {
        StandInExpertService stolen = servingAs("expert-a"); // at the address the placement gives expert-b
        assertTrue(experts.usePlacement(published(10, stolen.address(), "expert-b")));

        RuntimeException e = assertThrows(RuntimeException.class, () -> experts.run(batch()));

        assertTrue(e.getMessage().contains("expected the expert instance 'expert-b', its certificate speaks for"
                + " [expert-a]"), e.getMessage());
        assertEquals(0, stolen.streamsOpened.get(), "the server of another instance's certificate was sent a stream");
        assertEquals(0, stolen.requests.get());
    }

    @Test
    void aNewInstanceAtAnOldAddressIsDialedAfreshAndTrustedAsItself() {
        StandInExpertService a = servingAs("expert-a");
        // the placement first names the address for expert-b (a pod that had the address before): refused
        assertTrue(experts.usePlacement(published(10, a.address(), "expert-b")));
        assertThrows(RuntimeException.class, () -> experts.run(batch()));
        // then, as the control plane learns who registered there, for expert-a: a new client, served
        assertTrue(experts.usePlacement(published(20, a.address(), "expert-a")));
        runAllRowsBack(experts);
        assertEquals(1, a.requests.get());
    }
}
