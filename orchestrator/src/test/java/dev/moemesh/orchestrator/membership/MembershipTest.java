package dev.moemesh.orchestrator.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.moe.ExpertId;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

class MembershipTest {
    private static final Duration DEADLINE = Duration.ofSeconds(6);
    private static final Duration HALF_LIFE = Duration.ofMinutes(1);

    /** A clock the test moves. */
    static final class TestClock extends Clock {
        private Instant now = Instant.parse("2025-01-01T00:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }

    private final TestClock clock = new TestClock();

    private static Registration expert(String id, String fingerprint, Set<ExpertId> held) {
        return new Registration(id, InstanceRole.EXPERT, id + ":9100", fingerprint, 0, held);
    }

    private static Set<ExpertId> layer1(int from, int to) {
        TreeSet<ExpertId> s = new TreeSet<>();
        for (int e = from; e <= to; e++) s.add(new ExpertId(1, e));
        return s;
    }

    private Membership membership() {
        return new Membership(clock, DEADLINE, HALF_LIFE, Optional.empty());
    }

    @Test
    void anInstanceThatMissesItsHeartbeatsIsDeclaredDeadAndForgotten() {
        Membership m = membership();
        m.register(expert("a", "f1", layer1(0, 3)));
        m.register(expert("b", "f1", layer1(4, 7)));
        clock.advance(Duration.ofSeconds(4));
        assertTrue(m.heartbeat("a", Map.of(), 0));
        clock.advance(Duration.ofSeconds(3));
        List<Instance> dead = m.expire();
        assertEquals(List.of("b"), dead.stream().map(Instance::id).toList(), "b went 7 s without a heartbeat");
        assertEquals(List.of("a"), m.instances().stream().map(Instance::id).toList());
        assertFalse(m.heartbeat("b", Map.of(), 0), "a forgotten instance is told to register again");
        assertTrue(m.heartbeat("a", Map.of(), 0));
        clock.advance(DEADLINE);
        assertTrue(m.expire().isEmpty(), "exactly the deadline is still alive");
        clock.advance(Duration.ofMillis(1));
        assertEquals("a", m.expire().getFirst().id());
    }

    @Test
    void eachInstanceIsToldHowManyLivePeersOfItsRoleThereAreAndItsPlaceAmongThem() {
        Membership m = membership();
        m.register(expert("e", "f1", layer1(0, 3)));
        for (String id : List.of("router-b", "router-a", "router-c")) {
            m.register(new Registration(id, InstanceRole.ROUTER, id + ":9300", "f1", 0, Set.of()));
        }
        assertEquals(Optional.of(new PeerShare(3, 0)), m.peers("router-a"));
        assertEquals(Optional.of(new PeerShare(3, 1)), m.peers("router-b"));
        assertEquals(Optional.of(new PeerShare(3, 2)), m.peers("router-c"));
        assertEquals(Optional.of(new PeerShare(1, 0)), m.peers("e"), "an expert service's peers are expert services");
        assertEquals(Optional.empty(), m.peers("router-x"));

        m.drain("router-a", true);
        assertEquals(Optional.of(new PeerShare(2, 0)), m.peers("router-b"), "a draining router counts no more");
        assertEquals(Optional.of(new PeerShare(2, 1)), m.peers("router-c"));
        assertEquals(Optional.of(new PeerShare(3, 2)), m.peers("router-a"), "to itself, it comes last");

        clock.advance(Duration.ofSeconds(4));
        m.heartbeat("router-b", Map.of(), 0);
        clock.advance(Duration.ofSeconds(3));
        m.expire();
        assertEquals(Optional.of(new PeerShare(1, 0)), m.peers("router-b"), "routers that stop heartbeating are gone");
        assertThrows(IllegalArgumentException.class, () -> m.register(new Registration("router-z", InstanceRole.ROUTER,
                "z:9300", "f1", 0, layer1(0, 0))), "a router that says it holds experts");
    }

    @Test
    void registeringAgainMakesAnInstanceKnownWithWhatItHoldsNow() {
        Membership m = membership();
        m.register(expert("a", "f1", layer1(0, 3)));
        clock.advance(Duration.ofSeconds(10));
        m.expire();
        assertFalse(m.heartbeat("a", Map.of(), 0));
        m.register(expert("a", "f1", layer1(0, 7)));
        assertTrue(m.heartbeat("a", Map.of(), 0));
        assertEquals(layer1(0, 7), m.instance("a").orElseThrow().held());
    }

    @Test
    void anInstanceCannotMakeTheMeshPlaceExpertsTheServedModelDoesNotHave() {
        // a rogue registration holding a million made-up experts once made every plan place them (or fail for want of
        // slots), and rows reported for them grew the load table without bound
        Membership m = new Membership(clock, DEADLINE, HALF_LIFE,
                Optional.of(new ServedModel("f1", "orchestrator.model-dir /models/tiny", layer1(0, 7))));
        Set<ExpertId> phantom = new TreeSet<>(layer1(0, 1));
        phantom.add(new ExpertId(999, 0));
        var e = assertThrows(IllegalArgumentException.class, () -> m.register(expert("rogue", "f1", phantom)));
        assertEquals("instance 'rogue' says it holds layer 999 expert 0, which is not a routed expert of the served"
                + " model (orchestrator.model-dir /models/tiny)", e.getMessage());
        assertTrue(m.instance("rogue").isEmpty());

        m.register(expert("a", "f1", layer1(0, 3)));
        assertTrue(m.heartbeat("a", Map.of(new ExpertId(999, 0), 1_000_000L, new ExpertId(1, 2), -5L,
                new ExpertId(1, 3), 10L), 0));
        m.holds("a", phantom);
        assertEquals(layer1(0, 7), m.expertLoads().keySet(), "only the model's experts are planned");
        assertEquals(1.0, m.expertLoads().get(new ExpertId(1, 2)), "a negative row count weighs nothing");
        assertTrue(m.expertLoads().get(new ExpertId(1, 3)) > 1.0);
        assertEquals(layer1(0, 1), m.instance("a").orElseThrow().held());
    }

    @Test
    void anotherModelIsRefusedNamingBothFingerprints() {
        Membership m = membership();
        m.register(expert("a", "44b7659eb99199fa", layer1(0, 3)));
        var e = assertThrows(ModelMismatchException.class,
                () -> m.register(expert("b", "0123456789abcdef", layer1(4, 7))));
        assertEquals("instance 'b' has model_fingerprint '0123456789abcdef' but this mesh serves '44b7659eb99199fa'"
                + " (the fingerprint instance 'a' registered with first); start it on the same checkpoint",
                e.getMessage());
        assertTrue(m.instance("b").isEmpty());
        var w = assertThrows(ModelMismatchException.class, () -> m.acceptWatcher("attention-0", "0123456789abcdef"));
        assertTrue(w.getMessage().startsWith("watcher 'attention-0' has model_fingerprint '0123456789abcdef'"));
    }

    @Test
    void aWatcherBeforeAnyRegistrationIsLetInButDoesNotDecideTheModel() {
        Membership m = membership();
        m.acceptWatcher("router-0", "0123456789abcdef"); // WatchPlacement is open to roles that may not register
        m.register(expert("a", "44b7659eb99199fa", layer1(0, 3)));
        assertEquals(Optional.of("44b7659eb99199fa"), m.modelFingerprint(), "the first registration decides");
        assertThrows(ModelMismatchException.class, () -> m.acceptWatcher("router-0", "0123456789abcdef"));
    }

    @Test
    void anInstanceIdRegisteredInOneRoleIsRefusedInTheOther() {
        Membership m = membership();
        m.register(expert("node-1", "44b7659eb99199fa", layer1(0, 3)));
        var e = assertThrows(IllegalArgumentException.class, () -> m.register(new Registration("node-1",
                InstanceRole.ATTENTION, "node-1:9200", "44b7659eb99199fa", 0, Set.of())));
        assertEquals("instance 'node-1' is registered as an expert service at node-1:9100; it cannot register again as"
                + " an attention service until that one misses its heartbeats: give every process an instance id of"
                + " its own", e.getMessage());
        assertEquals(InstanceRole.EXPERT, m.instance("node-1").orElseThrow().role());
        assertEquals(layer1(0, 3), m.instance("node-1").orElseThrow().held());
    }

    @Test
    void theOrchestratorsModelDecidesBeforeAnyRegistration() {
        var served = new ServedModel("44b7659eb99199fa", "orchestrator.model-dir /models/tiny-v3", layer1(0, 15));
        Membership m = new Membership(clock, DEADLINE, HALF_LIFE, Optional.of(served));
        var e = assertThrows(ModelMismatchException.class,
                () -> m.register(expert("a", "0123456789abcdef", Set.of())));
        assertTrue(e.getMessage().contains("(orchestrator.model-dir /models/tiny-v3)"), e.getMessage());
        assertEquals(layer1(0, 15), m.expertLoads().keySet(), "the model's experts are planned before anyone has them");
    }

    @Test
    void theExpertsToPlaceAreEveryExpertAnyInstanceHeld() {
        Membership m = membership();
        m.register(expert("a", "f1", layer1(0, 3)));
        m.register(expert("b", "f1", layer1(4, 7)));
        clock.advance(Duration.ofSeconds(10));
        m.expire();
        assertEquals(layer1(0, 7), m.expertLoads().keySet(), "a dead instance's experts still need a place");
    }

    @Test
    void reportedRowsDecayWithTheHalfLife() {
        Membership m = membership();
        m.register(expert("a", "f1", layer1(0, 1)));
        m.heartbeat("a", Map.of(new ExpertId(1, 0), 1000L), 0);
        assertEquals(1001.0, m.expertLoads().get(new ExpertId(1, 0)), 1e-9);
        assertEquals(1.0, m.expertLoads().get(new ExpertId(1, 1)), 1e-9, "an idle expert counts one row");
        clock.advance(HALF_LIFE);
        m.heartbeat("a", Map.of(new ExpertId(1, 0), 100L), 0);
        assertEquals(601.0, m.expertLoads().get(new ExpertId(1, 0)), 1e-9);
        clock.advance(HALF_LIFE.multipliedBy(2));
        assertEquals(151.0, m.expertLoads().get(new ExpertId(1, 0)), 1e-9);
        assertFalse(m.heartbeat("nobody", Map.of(new ExpertId(1, 1), 5L), 0));
        assertEquals(1.0, m.expertLoads().get(new ExpertId(1, 1)), 1e-9, "rows of unknown instances are ignored");
    }

    @Test
    void drainingNeedsARegisteredInstance() {
        Membership m = membership();
        m.register(expert("a", "f1", layer1(0, 1)));
        assertTrue(m.drain("a", true).draining());
        var e = assertThrows(UnknownInstanceException.class, () -> m.drain("b", true));
        assertEquals("instance 'b' is not registered (or missed its heartbeats); register it first", e.getMessage());
    }

    @Test
    void aRegistrationWithoutIdRoleOrAddressIsRefused() {
        var noId = assertThrows(IllegalArgumentException.class,
                () -> new Registration(" ", InstanceRole.EXPERT, "h:1", "f1", 0, Set.of()));
        assertEquals("instance_id is empty", noId.getMessage());
        var noAddress = assertThrows(IllegalArgumentException.class,
                () -> new Registration("a", InstanceRole.EXPERT, "", "f1", 0, Set.of()));
        assertEquals("instance 'a' gives no address (host:port)", noAddress.getMessage());
        var noModel = assertThrows(IllegalArgumentException.class,
                () -> new Registration("a", InstanceRole.ATTENTION, "h:1", "", 0, Set.of()));
        assertEquals("instance 'a' gives no model_fingerprint", noModel.getMessage());
    }

    @Test
    void aRegistrationWhoseAddressIsNotHostAndPortIsRefused() {
        for (String address : List.of(" experts-0:9100", "experts-0", "experts-0:0", "experts-0:65536",
                "experts-0:9100/x", "u@experts-0:9100", "fd00::1:9100")) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new Registration("a", InstanceRole.EXPERT, address, "f1", 0, Set.of()), address);
            assertTrue(e.getMessage().startsWith("instance 'a' gives address '" + address + "', not host:port"),
                    e.getMessage());
        }
        for (String address : List.of("experts-0.experts.mesh.svc:9100", "10.0.3.7:9101", "[fd00::1]:9100")) {
            assertEquals(address, new Registration("a", InstanceRole.EXPERT, address, "f1", 0, Set.of()).address());
        }
    }
}
