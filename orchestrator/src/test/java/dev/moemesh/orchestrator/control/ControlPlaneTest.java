package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.Registration;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The control plane on its own, its expert services at a loopback port held bound and never listened on. */
class ControlPlaneTest {
    /** Heartbeats an hour apart: only a report can take an instance out within the test. */
    private static final ControlPlaneOptions OPTIONS = new ControlPlaneOptions(Duration.ofHours(1), 1,
            Duration.ofHours(1), 0.05, 1, 0, 0.05, Duration.ofMinutes(5), Duration.ofSeconds(5), Duration.ofHours(1),
            16, Duration.ZERO);

    @Test
    void everyInstanceRegisteredAtAnAddressThatFailsItsProbeIsTakenForDead() throws IOException, InterruptedException {
        try (Socket port = new Socket(); ControlPlane cp = ControlPlane.start(OPTIONS, Optional.empty(),
                Clock.systemUTC())) {
            port.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)); // a connection is refused at once
            String address = "127.0.0.1:" + port.getLocalPort();
            // the same service under its old id (not expired yet) and its new one; both hold their expert: no loads
            for (String id : List.of("experts-old", "experts-new")) {
                cp.register(new Registration(id, InstanceRole.EXPERT, address, "f1", 0, Set.of(new ExpertId(1, 0))));
            }
            assertTrue(cp.reportUnreachable("attention-0", address, "a stream broke"));
            long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!cp.instances().isEmpty() && System.nanoTime() < end) Thread.sleep(10);
            assertEquals(List.of(), cp.instances(), "instances left at " + address);
            assertEquals(2, cp.deadOnReport());
        }
    }
}
