package dev.moemesh.controlplane;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import dev.moemesh.testing.ControlPlaneStandIn;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A {@link ControlPlaneMember} as an attention service runs it (the placement version it routes with in each
 * heartbeat, the placement watched) against a control plane over real gRPC on loopback ({@link ControlPlaneStandIn}).
 */
class ControlPlaneMemberWatchTest {
    private static final String MODEL = "0123456789abcdef";
    private static final ControlPlaneMember.Identity ME =
            new ControlPlaneMember.Identity("attention-0", Role.ROLE_ATTENTION, "localhost:9200", MODEL);

    private final ControlPlaneStandIn controlPlane = new ControlPlaneStandIn(MODEL, 100);
    private final List<Placement> received = new CopyOnWriteArrayList<>();
    private final AtomicLong inUse = new AtomicLong();
    private final MemberOptions quick = new MemberOptions(Duration.ofMillis(50), Duration.ofMillis(200),
            Duration.ofMillis(200), Optional.of(received::add), Optional.empty());
    private ControlPlaneMember link;

    /** Starts the member, as the attention service does once its model is loaded. */
    private void start() {
        link = ControlPlaneMember.start(controlPlane.address(), ME, beat -> beat.setPlacementVersion(inUse.get()),
                quick);
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (link != null) link.close();
        controlPlane.close();
    }

    private static Placement version(long v) {
        return Placement.newBuilder().setVersion(v).setModelFingerprint(MODEL).build();
    }

    private List<Long> versionsReceived() {
        return received.stream().map(Placement::getVersion).toList();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > giveUp) throw new AssertionError("not within 10 s: " + what);
            Thread.sleep(10);
        }
    }

    @Test
    void registersAsAnAttentionServiceAndHeartbeatsAtTheIntervalItIsGiven() throws Exception {
        start();
        await(() -> controlPlane.registrations().size() == 1, "registered");
        RegisterRequest r = controlPlane.registrations().getFirst();
        assertEquals(Role.ROLE_ATTENTION, r.getRole());
        assertEquals("attention-0", r.getInstanceId());
        assertEquals("localhost:9200", r.getAddress());
        assertEquals(MODEL, r.getModelFingerprint());

        int before = controlPlane.heartbeats();
        Thread.sleep(1_000);
        int beats = controlPlane.heartbeats() - before;
        assertTrue(beats >= 5 && beats <= 11, "every 100 ms: " + beats + " heartbeats in 1 s");
        assertEquals(1, controlPlane.registrations().size(), "registered once");
    }

    @Test
    void eachHeartbeatTellsThePlacementVersionInUse() throws Exception {
        inUse.set(7);
        start();
        await(() -> controlPlane.reportedVersion() == 7, "version 7 reported");
        inUse.set(9);
        await(() -> controlPlane.reportedVersion() == 9, "the switch to version 9 reported by a later heartbeat");
    }

    @Test
    void registersAgainWhenTheControlPlaneNoLongerKnowsIt() throws Exception {
        start();
        await(() -> controlPlane.heartbeats() > 0, "heartbeating");
        controlPlane.forgetAll();
        await(() -> controlPlane.registrations().size() == 2, "registered again");
    }

    @Test
    void deliversTheCurrentPlacementAtOnceThenEachPublishedOneInOrder() throws Exception {
        controlPlane.publish(version(5));
        start();
        await(() -> received.size() == 1, "the current placement");
        controlPlane.publish(version(6));
        controlPlane.publish(version(7));
        await(() -> received.size() == 3, "each published one");
        assertEquals(List.of(5L, 6L, 7L), versionsReceived());
    }

    @Test
    void afterTheControlPlaneRestartsItRegistersAndWatchesAgain() throws Exception {
        start();
        await(() -> controlPlane.heartbeats() > 0 && received.size() == 1, "registered and watching");
        controlPlane.stop();
        Thread.sleep(500); // heartbeats and watch attempts fail meanwhile
        controlPlane.publish(version(8));
        controlPlane.restart();

        await(() -> controlPlane.registrations().size() == 2, "registered again");
        await(() -> versionsReceived().contains(8L), "watching again: the current placement");
        controlPlane.publish(version(9));
        await(() -> versionsReceived().contains(9L), "and what is published next");
    }

    @Test
    void aWatchThatFellSilentIsStartedAgainOnceHeartbeatsNameANewerVersion() throws Exception {
        start();
        await(() -> received.size() == 1, "watching");
        controlPlane.publishUnseen(version(12));
        await(() -> versionsReceived().contains(12L), "watching again, the current placement at once");
        assertEquals(2, controlPlane.watches());
    }

    @Test
    void ofSeveralControlPlanesItRegistersAndWatchesAtTheOneThatAnswersAndFollowsTheControlPlaneWhenItMoves()
            throws Exception {
        ControlPlaneStandIn other = new ControlPlaneStandIn(MODEL, 100);
        try {
            controlPlane.stop(); // the first named is down: the other orchestrator leads
            other.publish(version(5));
            link = ControlPlaneMember.start(controlPlane.address() + ", " + other.address(), ME,
                    beat -> beat.setPlacementVersion(inUse.get()), quick);
            await(() -> other.registrations().size() == 1, "registered with the second");
            await(() -> versionsReceived().contains(5L), "the second's placement");
            assertEquals(other.address(), link.target());

            // the leader moves back to the first: its first heartbeat there is answered "unknown", so it registers
            controlPlane.restart();
            controlPlane.publish(version(7));
            other.stop();
            await(() -> controlPlane.registrations().size() == 1, "registered with the first");
            await(() -> versionsReceived().contains(7L), "the first's placement, watched there");
            assertEquals(controlPlane.address(), link.target());
            assertEquals(List.of(5L, 7L), versionsReceived().stream().distinct().toList());
        } finally {
            other.close();
        }
    }
}
