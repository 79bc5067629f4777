package dev.moemesh.expert.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.controlplane.ControlPlaneMember;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.held.ExpertSelection;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * An expert service's {@link ControlPlaneMember}, with its {@link HeldExpertsReport}, against a recording stand-in
 * of the orchestrator's ControlPlane, with the tiny model's real held experts and token counters: what Register
 * carries, rows per heartbeat, failures, forgetting, refusal and draining.
 */
class ControlPlaneMemberTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String ID = "experts-a";

    private HeldExperts held;
    private ExpertTokenCounters counters;
    private RecordingControlPlane controlPlane;
    private ControlPlaneMember member;

    @BeforeEach
    void holdLayerOneExpertsZeroToThree() {
        held = HeldExperts.open(TestModels.tiny(Preset.TINY_V3), ExpertSelection.parse("1:0-3"), LocalExperts::new);
        counters = new ExpertTokenCounters(new SimpleMeterRegistry());
        held.held().forEach(counters::track);
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (member != null) member.close();
        if (controlPlane != null) controlPlane.close();
        held.close();
    }

    private ControlPlaneMember join(String target, int expertSlots) {
        return ControlPlaneMember.start(target, new ControlPlaneMember.Identity(ID, Role.ROLE_EXPERT, "localhost:9100",
                held.fingerprint()), new HeldExpertsReport(held::held, counters, expertSlots),
                ControlPlaneMembership.options(Duration.ofSeconds(5)));
    }

    private RegisterRequest registered() throws InterruptedException {
        RegisterRequest r = controlPlane.registrations.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertNotNull(r, "no registration within " + WAIT);
        return r;
    }

    @Test
    void registersWithWhatItHoldsAndItsSlotsThenHeartbeatsEachRowOnce() throws Exception {
        controlPlane = new RecordingControlPlane(0);
        member = join(controlPlane.address(), 6);

        RegisterRequest r = registered();
        assertEquals(ID, r.getInstanceId());
        assertEquals(Role.ROLE_EXPERT, r.getRole());
        assertEquals("localhost:9100", r.getAddress());
        assertEquals(held.fingerprint(), r.getModelFingerprint());
        assertEquals(6, r.getExpertSlots());
        assertEquals(List.of(expert(1, 0), expert(1, 1), expert(1, 2), expert(1, 3)), r.getHeldList());

        counters.add(new ExpertId(1, 2), 5);
        await("5 rows of 1:2 taken", () -> controlPlane.takenRows().equals(Map.of(new ExpertId(1, 2), 5L)));
        counters.add(new ExpertId(1, 2), 3);
        counters.add(new ExpertId(1, 3), 1);
        Map<ExpertId, Long> all = Map.of(new ExpertId(1, 2), 8L, new ExpertId(1, 3), 1L);
        await("8 rows of 1:2 and 1 of 1:3 taken", () -> controlPlane.takenRows().equals(all));
        int beats = controlPlane.taken.size();
        await("three more heartbeats", () -> controlPlane.taken.size() >= beats + 3);

        assertEquals(all, controlPlane.takenRows(), "no row is sent twice");
        assertTrue(controlPlane.taken.stream().flatMap(b -> b.getTokensList().stream())
                .allMatch(t -> t.getTokens() > 0), "only experts with new rows are listed");
        assertEquals(ControlPlaneMember.State.REGISTERED, member.state());
        assertEquals("registered with the control plane at " + controlPlane.address() + " as '" + ID + "'",
                member.status());
    }

    @Test
    void rowsOfHeartbeatsThatFailedGoWithTheNextThatGetsThrough() throws Exception {
        controlPlane = new RecordingControlPlane(0);
        member = join(controlPlane.address(), 0);
        registered();
        await("a heartbeat", () -> !controlPlane.taken.isEmpty());

        controlPlane.heartbeatFailure = Status.UNAVAILABLE.withDescription("orchestrator overloaded");
        counters.add(new ExpertId(1, 1), 7);
        await("two failed heartbeats", () -> controlPlane.failedHeartbeats.get() >= 2);
        assertEquals(ControlPlaneMember.State.HEARTBEATS_FAILING, member.state());
        assertTrue(member.status().endsWith("but heartbeats fail: UNAVAILABLE: orchestrator overloaded"),
                member.status());

        controlPlane.heartbeatFailure = null;
        await("the 7 rows taken", () -> controlPlane.takenRows().equals(Map.of(new ExpertId(1, 1), 7L)));
        await("registered again", () -> member.state() == ControlPlaneMember.State.REGISTERED);
    }

    @Test
    void aForgottenInstanceRegistersAgainWithWhatItHoldsNowAndResendsTheRowsItWasNotTaken() throws Exception {
        controlPlane = new RecordingControlPlane(0);
        member = join(controlPlane.address(), 0);
        assertEquals(4, registered().getHeldCount());

        // rows counted while the orchestrator restarts: the heartbeat that carries them finds it has forgotten
        controlPlane.heartbeatFailure = Status.UNAVAILABLE;
        await("a failed heartbeat", () -> controlPlane.failedHeartbeats.get() >= 1);
        held.load(List.of(new ExpertId(2, 5)));
        counters.add(new ExpertId(2, 5), 4);
        controlPlane.forget(ID);
        controlPlane.heartbeatFailure = null;

        RegisterRequest again = registered();
        assertTrue(again.getHeldList().contains(expert(2, 5)), "registers with what it holds now: " + again);
        assertEquals(5, again.getHeldCount());
        await("the 4 rows taken after registering again",
                () -> controlPlane.takenRows().equals(Map.of(new ExpertId(2, 5), 4L)));
        HeartbeatRequest unknown = controlPlane.ignored.getFirst();
        assertEquals(List.of(ExpertTokens.newBuilder().setLayer(2).setExpert(5).setTokens(4).build()),
                unknown.getTokensList(), "the heartbeat the control plane did not take carried them first");
    }

    @Test
    void startsWhileTheControlPlaneIsDownAndRegistersOnceItIsUp() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        member = join("localhost:" + port, 0);
        await("a failed registration", () -> member.state() == ControlPlaneMember.State.UNREACHABLE);
        assertTrue(member.status().startsWith("cannot reach the control plane at localhost:" + port + ": UNAVAILABLE"),
                member.status());

        controlPlane = new RecordingControlPlane(port);
        assertEquals(ID, registered().getInstanceId());
        await("registered", () -> member.state() == ControlPlaneMember.State.REGISTERED);
    }

    @Test
    void aRefusedRegistrationIsReportedAndNothingIsDrained() throws Exception {
        controlPlane = new RecordingControlPlane(0);
        String why = "instance 'experts-a' has model_fingerprint '0123456789abcdef' but this mesh serves"
                + " '44b7659eb99199fa'; start it on the same checkpoint";
        controlPlane.registerRefusal = Status.FAILED_PRECONDITION.withDescription(why);
        member = join(controlPlane.address(), 0);

        await("refused", () -> member.state() == ControlPlaneMember.State.REFUSED);
        assertEquals("refused by the control plane at " + controlPlane.address() + ": FAILED_PRECONDITION: " + why,
                member.status());
        member.close();
        assertEquals(ControlPlaneMember.State.STOPPED, member.state());
        assertTrue(controlPlane.drains.isEmpty(), "never registered: nothing to drain");
        assertTrue(controlPlane.taken.isEmpty() && controlPlane.ignored.isEmpty(), "no heartbeats without registering");
    }

    @Test
    void closingDrainsAndThenSendsNoMoreHeartbeats() throws Exception {
        controlPlane = new RecordingControlPlane(0);
        member = join(controlPlane.address(), 0);
        registered();
        await("a heartbeat", () -> !controlPlane.taken.isEmpty());

        member.close();
        assertEquals(ID, controlPlane.drains.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS).getInstanceId());
        assertEquals(ControlPlaneMember.State.STOPPED, member.state());
        assertEquals("drained from the control plane at " + controlPlane.address(), member.status());
        int beats = controlPlane.taken.size();
        Thread.sleep(5 * RecordingControlPlane.HEARTBEAT_MS);
        assertEquals(beats, controlPlane.taken.size(), "no heartbeat after the drain");
    }

    private static LayerExpert expert(int layer, int expert) {
        return LayerExpert.newBuilder().setLayer(layer).setExpert(expert).build();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("waited " + WAIT.toSeconds() + " s for " + what);
            Thread.sleep(10);
        }
    }
}
