package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.Instance;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.Registration;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.orchestrator.placement.InsufficientSlotsException;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    @Test
    void standingByItRefusesEveryCallEndsItsWatchesAndForgetsItsInstancesThenLeadsAgainInANewTerm() throws Exception {
        try (ControlPlane cp = ControlPlane.start(OPTIONS, Optional.empty(), Clock.systemUTC())) {
            Registration experts = new Registration("experts-a", InstanceRole.EXPERT, "127.0.0.1:1", "f1", 0,
                    Set.of(new ExpertId(1, 0)));
            cp.register(experts);
            await(() -> cp.current().version() != 0, "a placement");
            long first = cp.current().version();
            List<RuntimeException> ended = new CopyOnWriteArrayList<>();
            cp.watch("attention-0", "f1", p -> {}, ended::add);

            cp.standBy("another orchestrator was elected");
            assertFalse(cp.leading());
            await(() -> ended.size() == 1, "the watch ended");
            assertInstanceOf(IllegalStateException.class, ended.getFirst());
            assertEquals(ControlPlane.STANDING_BY, ended.getFirst().getMessage());
            await(() -> cp.instances().isEmpty(), "its instances forgotten");
            // its gRPC edge answers UNAVAILABLE, which a member takes as "the next orchestrator"
            Status[] answered = new Status[1];
            new ControlPlaneGrpcService(cp).heartbeat(HeartbeatRequest.newBuilder().setInstanceId("experts-a").build(),
                    new StreamObserver<HeartbeatResponse>() {
                        @Override
                        public void onNext(HeartbeatResponse value) {
                            throw new AssertionError("answered while standing by: " + value);
                        }

                        @Override
                        public void onError(Throwable t) {
                            answered[0] = Status.fromThrowable(t);
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
            assertEquals(Status.Code.UNAVAILABLE, answered[0].getCode());
            assertEquals(ControlPlane.STANDING_BY, answered[0].getDescription());

            cp.lead("elected again");
            await(cp::leading, "leading");
            cp.register(experts);
            await(() -> cp.current().version() > first, "a placement of the new term, newer than the last");
        }
    }

    @Test
    void aDrainRefusedAfterAnotherInstanceFailedItsLoadLeavesNoPlacementRoutingToThatOne() throws Exception {
        ServedModel model = new ServedModel("f1", "the test's", Set.of(new ExpertId(1, 0), new ExpertId(1, 1)));
        try (Socket portA = new Socket(); Socket portB = new Socket();
             ControlPlane cp = ControlPlane.start(OPTIONS, Optional.of(model), Clock.systemUTC())) {
            portA.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)); // LoadExperts fails at once
            portB.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            cp.register(new Registration("a", InstanceRole.EXPERT, "127.0.0.1:" + portA.getLocalPort(), "f1", 1,
                    Set.of(new ExpertId(1, 0))));
            cp.register(new Registration("b", InstanceRole.EXPERT, "127.0.0.1:" + portB.getLocalPort(), "f1", 2,
                    Set.of(new ExpertId(1, 1))));
            await(() -> cp.current().placement().instances().equals(Set.of("a", "b")), "both placed where they hold");

            // draining 'a' asks 'b' to load (1, 0); 'b' fails and is left out, and 'a' alone cannot hold both experts
            assertThrows(InsufficientSlotsException.class, () -> cp.drain("a"));

            assertEquals(List.of("a"), cp.instances().stream().map(Instance::id).toList());
            assertFalse(cp.instances().getFirst().draining(), "'a' drained although the drain was refused");
            assertEquals(Set.of("a"), cp.current().placement().instances(), "the placement once the drain is refused");
        }
    }

    @Test
    void aProbeIsNotFailedByAnotherInstanceAtTheSameAddressBeingLeftOut() throws Exception {
        // found by the fuzzer: the probe shared the control plane's channel to the address, and a failed
        // LoadExperts of another instance registered there shut that channel down, so the probe failed and an
        // expert service that answers was taken for dead
        ServedModel model = new ServedModel("f1", "the test's", Set.of(new ExpertId(1, 0), new ExpertId(1, 1)));
        SlowDescribes service = new SlowDescribes(Duration.ofMillis(500)); // LoadExperts: UNIMPLEMENTED at once
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(service).build().start();
        String address = "127.0.0.1:" + server.getPort();
        try (ControlPlane cp = ControlPlane.start(OPTIONS, Optional.of(model), Clock.systemUTC())) {
            cp.register(new Registration("alive", InstanceRole.EXPERT, address, "f1", 1, Set.of(new ExpertId(1, 0))));
            assertTrue(cp.reportUnreachable("attention-0", address, "a stream broke"));
            await(() -> service.held.get() == 1, "the probe's Describe at the service");

            // the same address under a new id: the plan gives it (1, 1), its LoadExperts fails, it is left out
            cp.register(new Registration("restarted", InstanceRole.EXPERT, address, "f1", 0, Set.of()));
            await(() -> cp.failedLoads() == 1, "the new id's LoadExperts failed");
            await(() -> service.answered.get() == 1, "the probe's Describe answered");
            Thread.sleep(200); // the probe's answer reaches the control plane

            assertEquals(List.of("alive"), cp.instances().stream().map(Instance::id).toList());
            assertEquals(0, cp.deadOnReport(), "an expert service that answers its probe taken for dead");
        } finally {
            server.shutdownNow();
        }
    }

    /** An expert service whose Describe answers after {@code hold}; every other call is unimplemented. */
    private static final class SlowDescribes extends ExpertServiceGrpc.ExpertServiceImplBase {
        final AtomicInteger held = new AtomicInteger();
        final AtomicInteger answered = new AtomicInteger();
        private final Duration hold;

        SlowDescribes(Duration hold) {
            this.hold = hold;
        }

        @Override
        public void describe(DescribeRequest request, StreamObserver<DescribeResponse> answer) {
            held.incrementAndGet();
            CompletableFuture.delayedExecutor(hold.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
                try {
                    answer.onNext(DescribeResponse.getDefaultInstance());
                    answer.onCompleted();
                    answered.incrementAndGet();
                } catch (RuntimeException e) {
                    // the caller is gone (the call was cancelled): nothing to answer
                }
            });
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("not within 10 s: " + what);
            Thread.sleep(10);
        }
    }
}
