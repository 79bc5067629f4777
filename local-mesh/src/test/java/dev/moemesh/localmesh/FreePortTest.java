package dev.moemesh.localmesh;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FreePortTest {

    @Test
    void aPortIsHandedOutOnceEvenWhenTheSystemOffersItAgain() {
        // Linux hands a closed probe's ephemeral port out again often: about one call in eight of 2000 here
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) {
            int port = LocalMesh.freePort();
            assertTrue(seen.add(port), "port " + port + " handed out twice, at call " + i);
        }
    }

    @Test
    void portsLieOutsideTheRangeOutgoingConnectionsTakeTheirsFromAndAreFreeToListenOn() throws IOException {
        LocalMesh.PortRange ephemeral = LocalMesh.ephemeralRange();
        assertNotNull(LocalMesh.PORTS, "this system leaves room outside " + ephemeral);
        for (int i = 0; i < 200; i++) {
            int port = LocalMesh.freePort();
            assertFalse(ephemeral.contains(port), port + " is inside the ephemeral range " + ephemeral);
            assertTrue(LocalMesh.PORTS.contains(port), port + " outside " + LocalMesh.PORTS);
            try (ServerSocket listening = new ServerSocket(port)) {
                assertEquals(port, listening.getLocalPort());
            }
        }
    }

    @Test
    void thePickedRangeIsTheLargerStretchBesideTheEphemeralOneOrNoneWhenTooSmall() {
        assertEquals(new LocalMesh.PortRange(10_000, 32_767),
                LocalMesh.PortRange.outsideEphemeral(new LocalMesh.PortRange(32_768, 60_999)), "Linux's default");
        assertEquals(new LocalMesh.PortRange(10_000, 49_151),
                LocalMesh.PortRange.outsideEphemeral(new LocalMesh.PortRange(49_152, 65_535)), "IANA's dynamic ports");
        assertEquals(new LocalMesh.PortRange(40_001, 65_535),
                LocalMesh.PortRange.outsideEphemeral(new LocalMesh.PortRange(9_000, 40_000)), "a range set low");
        assertNull(LocalMesh.PortRange.outsideEphemeral(new LocalMesh.PortRange(1_024, 65_535)),
                "a system that takes every port for outgoing connections leaves none: the system's own pick then");
    }
}
