package dev.moemesh.orchestrator.control;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.Instance;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.orchestrator.membership.UnknownInstanceException;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.DrainResponse;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.ReportUnreachableRequest;
import dev.moemesh.proto.ReportUnreachableResponse;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.Attributes;
import io.grpc.Server;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import static dev.moemesh.testing.FuzzValues.edgeInt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The control plane's gRPC service as a caller past the transport reaches it: up to 12 Register / Heartbeat / Drain /
 * WatchPlacement / ReportUnreachable calls in any order (field by field, 32-bit edges included, or parsed from raw
 * bytes) on a real {@link ControlPlane} whose expert services sit at ports nothing listens on, or at a local server
 * that holds each Describe until the target lets it go. Each call answers or is refused with a clear status (never
 * {@code INTERNAL}, {@code UNKNOWN} or a thrown exception); a watch never decides the served model, and a watcher gets
 * only its model's placements, each newer than the last, naming only expert services at addresses they registered; a
 * report of an address no expert service registered is refused without dialing it or changing the membership; one of
 * a registered, closed address ends with no instance there; an address is probed once at a time; and once the calls
 * are done the placement routes only to expert services registered, not draining, at the addresses it gives.
 */
class ControlPlaneCallsFuzzTest {
    private static final String FINGERPRINT = "f1";
    private static final ServedModel MODEL;
    private static final Duration BOUND = Duration.ofSeconds(20); // the longest wait for an asynchronous outcome
    /** Heartbeats and re-plans from the load an hour apart: only the calls move the membership; no settle time. */
    private static final ControlPlaneOptions OPTIONS = new ControlPlaneOptions(Duration.ofHours(1), 1,
            Duration.ofHours(1), 0.05, 1, 1, 0.05, Duration.ofMinutes(5), Duration.ofSeconds(5), Duration.ofHours(1),
            16, Duration.ZERO);
    /** Never registered: Drain of it passes through the control plane's worker after everything queued before. */
    private static final String BARRIER = "fuzz-barrier";

    private static final HeldDescribes PROBED = new HeldDescribes();
    private static final Tripwire TRIPWIRE = new Tripwire();
    private static final List<String> CLOSED = List.of(closedPort(), closedPort(), closedPort());

    static {
        Set<ExpertId> experts = new TreeSet<>();
        for (int layer = 1; layer <= 2; layer++) for (int e = 0; e < 8; e++) experts.add(new ExpertId(layer, e));
        MODEL = new ServedModel(FINGERPRINT, "the fuzz target's", experts);
    }

    @FuzzTest(maxDuration = "20s")
    void everyCallIsAnsweredOrRefusedClearlyAndWatchersSeeOnlyRegisteredExpertServices(FuzzedDataProvider data) {
        PROBED.awaitIdle();
        boolean configured = data.consumeBoolean();
        Calls calls = new Calls(ControlPlane.start(OPTIONS, configured ? Optional.of(MODEL) : Optional.empty(),
                Clock.systemUTC()), configured ? FINGERPRINT : null);
        try {
            int n = data.consumeInt(1, 12);
            for (int c = 0; c < n && data.remainingBytes() > 0; c++) {
                switch (data.consumeInt(0, 4)) {
                    case 0 -> calls.register(data);
                    case 1 -> calls.heartbeat(data);
                    case 2 -> calls.drain(data);
                    case 3 -> calls.watch(data);
                    default -> calls.report(data);
                }
            }
            calls.settle();
            calls.checkWatchers();
            calls.checkPlacement();
            assertEquals(0, TRIPWIRE.connections.get(), "an address no expert service registered was dialed");
            assertEquals(List.of(), List.copyOf(PROBED.violations), "an address probed twice at once");
        } finally {
            calls.controlPlane.close();
        }
    }

    /** One execution's control plane, its service, and what the calls so far entitle the watchers to see. */
    private static final class Calls {
        final ControlPlane controlPlane;
        final ControlPlaneGrpcService service;
        /** "id address" of every expert registration made so far (added before the call: the plan may use it at once) */
        final Set<String> expertsRegistered = ConcurrentHashMap.newKeySet();
        final List<Watcher> watchers = new ArrayList<>();
        String served; // the served model's fingerprint once known

        Calls(ControlPlane controlPlane, String served) {
            this.controlPlane = controlPlane;
            this.service = new ControlPlaneGrpcService(controlPlane);
            this.served = served;
        }

        void register(FuzzedDataProvider data) {
            RegisterRequest request;
            if (data.consumeBoolean()) {
                request = parse(RegisterRequest.parser(), data);
                if (request == null) return;
            } else {
                RegisterRequest.Builder b = RegisterRequest.newBuilder().setInstanceId(id(data))
                        .setModelFingerprint(fingerprint(data)).setAddress(address(data))
                        .setExpertSlots(edgeInt(data, 10));
                if (data.consumeBoolean()) b.setRole(data.pickValue(new Role[] {Role.ROLE_EXPERT, Role.ROLE_ATTENTION}));
                else b.setRoleValue(edgeInt(data, 3));
                int held = data.consumeInt(0, 6);
                for (int i = 0; i < held; i++) {
                    b.addHeld(LayerExpert.newBuilder().setLayer(edgeInt(data, 3)).setExpert(edgeInt(data, 9)));
                }
                request = b.build();
            }
            if (request.getInstanceId().equals(BARRIER)) request = request.toBuilder().setInstanceId("i0").build();
            // the control plane dials an expert service (LoadExperts, a probe): never anything but the target's own
            if (request.getRole() == Role.ROLE_EXPERT && !dialable(request.getAddress())) {
                request = request.toBuilder().setAddress(expertAddress(data)).build();
            }
            RegisterRequest sent = request;
            String pair = sent.getInstanceId() + " " + sent.getAddress();
            boolean added = sent.getRole() == Role.ROLE_EXPERT && expertsRegistered.add(pair);
            Unary<RegisterResponse> answer = Unary.call(o -> service.register(sent, o));
            if (answer.refused(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION)) {
                if (added) expertsRegistered.remove(pair);
                if (answer.status().getCode() == Status.Code.FAILED_PRECONDITION) {
                    assertTrue(served != null, "registration " + request + " refused for another model while none is"
                            + " served yet: " + answer.status());
                    assertFalse(request.getModelFingerprint().equals(served), "the served model's registration"
                            + " refused: " + answer.status());
                }
                return;
            }
            assertTrue(served == null || served.equals(request.getModelFingerprint()),
                    "registered for model '" + request.getModelFingerprint() + "' while the mesh serves '" + served + "'");
            if (served == null) served = request.getModelFingerprint();
        }

        void heartbeat(FuzzedDataProvider data) {
            HeartbeatRequest request;
            if (data.consumeBoolean()) {
                request = parse(HeartbeatRequest.parser(), data);
                if (request == null) return;
            } else {
                HeartbeatRequest.Builder b = HeartbeatRequest.newBuilder().setInstanceId(id(data))
                        .setPlacementVersion(data.consumeLong());
                int rows = data.consumeInt(0, 6);
                for (int i = 0; i < rows; i++) {
                    b.addTokensBuilder().setLayer(edgeInt(data, 3)).setExpert(edgeInt(data, 9))
                            .setTokens(data.consumeLong());
                }
                request = b.build();
            }
            HeartbeatRequest sent = request;
            Unary.<HeartbeatResponse>call(o -> service.heartbeat(sent, o)).refused();
        }

        void drain(FuzzedDataProvider data) {
            DrainRequest request = data.consumeBoolean() ? parse(DrainRequest.parser(), data)
                    : DrainRequest.newBuilder().setInstanceId(id(data)).build();
            if (request == null || request.getInstanceId().equals(BARRIER)) return;
            Unary.<DrainResponse>call(o -> service.drain(request, o))
                    .refused(Status.Code.NOT_FOUND, Status.Code.FAILED_PRECONDITION, Status.Code.UNAVAILABLE);
        }

        void watch(FuzzedDataProvider data) {
            WatchPlacementRequest request = data.consumeBoolean() ? parse(WatchPlacementRequest.parser(), data)
                    : WatchPlacementRequest.newBuilder().setInstanceId(id(data)).setModelFingerprint(fingerprint(data))
                    .build();
            if (request == null) return;
            String fingerprint = request.getModelFingerprint();
            Watcher w = new Watcher(fingerprint, expertsRegistered);
            try {
                service.watchPlacement(request, w);
            } catch (RuntimeException e) {
                throw new AssertionError("WatchPlacement " + request + " threw", e);
            }
            watchers.add(w);
            if (fingerprint.isBlank()) {
                w.assertRefused(Status.Code.INVALID_ARGUMENT);
            } else if (served != null && !served.equals(fingerprint)) {
                w.assertRefused(Status.Code.FAILED_PRECONDITION);
            } else {
                assertTrue(w.error == null, "a watch of the served model refused: " + w.error);
                assertFalse(w.received.isEmpty(), "a watch accepted without the current placement");
            }
        }

        void report(FuzzedDataProvider data) {
            ReportUnreachableRequest request;
            if (data.consumeBoolean()) {
                request = parse(ReportUnreachableRequest.parser(), data);
                if (request == null) return;
            } else {
                List<Instance> members = controlPlane.instances();
                String address = members.isEmpty() || data.consumeBoolean() ? address(data)
                        : members.get(data.consumeInt(0, members.size() - 1)).address();
                request = ReportUnreachableRequest.newBuilder().setInstanceId(id(data)).setAddress(address)
                        .setReason(data.consumeString(8)).build();
            }
            int times = data.consumeInt(1, 3);
            settle();
            List<Instance> before = controlPlane.instances();
            String address = request.getAddress();
            boolean registered = before.stream().anyMatch(i -> i.role() == InstanceRole.EXPERT
                    && i.address().equals(address));
            ReportUnreachableRequest sent = request;
            for (int t = 0; t < times; t++) {
                Unary<ReportUnreachableResponse> answer = Unary.call(o -> service.reportUnreachable(sent, o));
                answer.refused();
                boolean probing = answer.value.getProbing();
                // a report after the first may find the instance already taken for dead
                boolean stillThere = controlPlane.instances().stream().anyMatch(i -> i.role() == InstanceRole.EXPERT
                        && i.address().equals(address));
                assertEquals(registered && (t == 0 || stillThere || probing), probing, "ReportUnreachable of "
                        + address + " (an expert service's: " + registered + ") answered probing=" + probing);
            }
            if (!registered) {
                settle();
                assertEquals(before, controlPlane.instances(), "a report of " + address + ", which no expert service"
                        + " registered, changed the membership");
                return;
            }
            if (CLOSED.contains(address)) {
                await(() -> controlPlane.instances().stream().noneMatch(i -> i.role() == InstanceRole.EXPERT
                        && i.address().equals(address)), "every expert service at " + address + ", which is"
                        + " closed, gone after a report of it: " + controlPlane.instances());
            }
        }

        /** Returns once the control plane's worker has done everything queued so far. */
        void settle() {
            try {
                controlPlane.drain(BARRIER);
                fail("the barrier instance is registered");
            } catch (UnknownInstanceException expected) {
                // the worker got to it
            }
        }

        /** Once the worker has done what the calls queued, the placement routes only to what is registered now. */
        void checkPlacement() {
            PublishedPlacement p = controlPlane.current();
            for (String id : p.placement().instances()) {
                Optional<Instance> i = controlPlane.instances().stream().filter(x -> x.id().equals(id)).findFirst();
                assertTrue(i.isPresent() && i.get().role() == InstanceRole.EXPERT && !i.get().draining()
                        && i.get().address().equals(p.addresses().get(id)), "placement " + p.version() + " routes to '"
                        + id + "' at " + p.addresses().get(id) + ", registered now as " + i);
            }
        }

        void checkWatchers() {
            long version = controlPlane.current().version();
            for (Watcher w : watchers) {
                assertEquals(List.of(), List.copyOf(w.violations), "watcher of '" + w.fingerprint + "'");
                // a watcher of another model (it came before the model was known) is ended once a placement is out
                if (w.error == null && version > 0 && served != null && !served.equals(w.fingerprint)) {
                    fail("a watcher of '" + w.fingerprint + "' still watches a mesh that serves '" + served + "'");
                }
            }
        }
    }

    /** A unary call's outcome: one answer, then completed, or one error. */
    private static final class Unary<T> implements StreamObserver<T> {
        T value;
        Throwable error;
        int events;
        boolean completed;

        static <T> Unary<T> call(Consumer<StreamObserver<T>> call) {
            Unary<T> u = new Unary<>();
            try {
                call.accept(u);
            } catch (RuntimeException e) {
                throw new AssertionError("the call threw (a caller gets UNKNOWN)", e);
            }
            return u;
        }

        Status status() {
            return Status.fromThrowable(error);
        }

        /** Whether it was refused, with one of {@code allowed} and a description; else it answered once. */
        boolean refused(Status.Code... allowed) {
            if (error != null) {
                Status s = status();
                assertTrue(Set.of(allowed).contains(s.getCode()), "refused " + s + " (allowed: " + List.of(allowed)
                        + ")");
                assertTrue(s.getDescription() != null && !s.getDescription().isBlank(), "a refusal that says nothing");
                assertEquals(1, events, "events besides the error");
                return true;
            }
            assertTrue(value != null && completed && events == 2, "no single answer, completed: " + events);
            return false;
        }

        @Override
        public void onNext(T v) {
            value = v;
            events++;
        }

        @Override
        public void onError(Throwable t) {
            error = t;
            events++;
        }

        @Override
        public void onCompleted() {
            completed = true;
            events++;
        }
    }

    /**
     * A watcher's end of the stream: what it got, and what was wrong with it (noted, not thrown: placements arrive
     * on the control plane's worker thread).
     */
    private static final class Watcher implements StreamObserver<Placement> {
        final String fingerprint;
        final Set<String> expertsRegistered;
        final Queue<Placement> received = new ConcurrentLinkedQueue<>();
        final Queue<String> violations = new ConcurrentLinkedQueue<>();
        volatile Throwable error;
        private long last = -1;

        Watcher(String fingerprint, Set<String> expertsRegistered) {
            this.fingerprint = fingerprint;
            this.expertsRegistered = expertsRegistered;
        }

        @Override
        public synchronized void onNext(Placement p) {
            if (error != null) violations.add("placement " + p.getVersion() + " after the error " + error);
            if (p.getVersion() <= last) violations.add("version " + p.getVersion() + " after " + last);
            last = p.getVersion();
            if (!p.getModelFingerprint().equals(fingerprint)) {
                violations.add("placement " + p.getVersion() + " of model '" + p.getModelFingerprint() + "'");
            }
            for (ExpertReplicas e : p.getExpertsList()) {
                for (var r : e.getReplicasList()) {
                    if (!expertsRegistered.contains(r.getInstanceId() + " " + r.getAddress())) {
                        violations.add("placement " + p.getVersion() + " names '" + r.getInstanceId() + "' at "
                                + r.getAddress() + ", never registered there as an expert service");
                    }
                }
            }
            received.add(p);
        }

        @Override
        public void onError(Throwable t) {
            error = t;
        }

        @Override
        public void onCompleted() {
            violations.add("a watch completed");
        }

        void assertRefused(Status.Code code) {
            assertTrue(error != null, "a watch of '" + fingerprint + "' accepted");
            Status s = Status.fromThrowable(error);
            assertEquals(code, s.getCode(), s.toString());
            assertTrue(s.getDescription() != null && !s.getDescription().isBlank(), "a refusal that says nothing");
            assertTrue(received.isEmpty(), "a refused watch received " + received);
        }
    }

    private static String id(FuzzedDataProvider data) {
        return data.consumeBoolean() ? "i" + data.consumeInt(0, 3) : data.consumeString(6);
    }

    private static String fingerprint(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 2)) {
            case 0 -> FINGERPRINT;
            case 1 -> "f2";
            default -> data.consumeString(4);
        };
    }

    /** Any address: the expert services', the tripwire (never an expert service's), or any string. */
    private static String address(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 3)) {
            case 0 -> expertAddress(data);
            case 1 -> TRIPWIRE.address;
            case 2 -> data.consumeString(12);
            default -> "127.0.0.1:" + edgeInt(data, 65535);
        };
    }

    /** An expert service's address: a closed port, the server that holds Describes, or a string no channel takes. */
    private static String expertAddress(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 4)) {
            case 0, 1 -> CLOSED.get(data.consumeInt(0, CLOSED.size() - 1));
            case 2 -> PROBED.address;
            default -> " " + data.consumeString(8); // a space: no URI, so no DNS name either
        };
    }

    /** Whether the control plane may dial it from the target: local and owned by the target, or never a target. */
    private static boolean dialable(String address) {
        return CLOSED.contains(address) || address.equals(PROBED.address) || address.startsWith(" ");
    }

    private static <T extends Message> T parse(Parser<T> parser, FuzzedDataProvider data) {
        try {
            return parser.parseFrom(data.consumeBytes(data.consumeInt(0, 96)));
        } catch (InvalidProtocolBufferException e) {
            return null;
        }
    }

    private static void await(BooleanSupplier condition, String what) {
        long end = System.nanoTime() + BOUND.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) fail(what);
            Thread.onSpinWait();
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /**
     * A loopback port held bound and never listened on: a connection to it is refused at once, and nothing else can
     * take the port while the JVM lives.
     */
    private static String closedPort() {
        try {
            Socket held = new Socket();
            held.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return "127.0.0.1:" + held.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A loopback port that counts the connections made to it. */
    private static final class Tripwire {
        final AtomicInteger connections = new AtomicInteger();
        final String address;

        Tripwire() {
            try {
                ServerSocket socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
                address = "127.0.0.1:" + socket.getLocalPort();
                Thread.ofPlatform().daemon().name("fuzz-tripwire").start(() -> {
                    while (true) {
                        try (Socket s = socket.accept()) {
                            connections.incrementAndGet();
                        } catch (IOException e) {
                            return;
                        }
                    }
                });
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * An expert service that answers each Describe only after {@link #HOLD}: a second Describe while one is held is
     * a second probe of the address at once (the reports of a burst come microseconds apart). LoadExperts is not
     * served (UNIMPLEMENTED: a load fails, and the instance is left out).
     */
    private static final class HeldDescribes extends ExpertServiceGrpc.ExpertServiceImplBase {
        private static final Duration HOLD = Duration.ofMillis(50);
        /** Marks a connection counted at transportReady, so one that never got ready is not taken off. */
        private static final Attributes.Key<Boolean> COUNTED = Attributes.Key.create("counted");
        final Queue<String> violations = new ConcurrentLinkedQueue<>();
        final String address;
        private final Set<StreamObserver<DescribeResponse>> held = ConcurrentHashMap.newKeySet();
        private final AtomicInteger connections = new AtomicInteger();
        private final ScheduledExecutorService answering = Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().daemon().name("fuzz-held-describes").unstarted(r));

        HeldDescribes() {
            try {
                Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                        .addService(this).addTransportFilter(new ServerTransportFilter() {
                            @Override
                            public Attributes transportReady(Attributes transport) {
                                connections.incrementAndGet();
                                return transport.toBuilder().set(COUNTED, Boolean.TRUE).build();
                            }

                            @Override
                            public void transportTerminated(Attributes transport) {
                                if (transport.get(COUNTED) != null) connections.decrementAndGet();
                            }
                        }).build().start();
                address = "127.0.0.1:" + server.getPort();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void describe(DescribeRequest request, StreamObserver<DescribeResponse> response) {
            if (response instanceof ServerCallStreamObserver<DescribeResponse> call) {
                call.setOnCancelHandler(() -> held.remove(response));
            }
            held.add(response);
            if (held.size() > 1) violations.add(held.size() + " Describes at once");
            answering.schedule(() -> {
                if (!held.remove(response)) return; // cancelled
                try {
                    response.onNext(DescribeResponse.getDefaultInstance());
                    response.onCompleted();
                } catch (RuntimeException cancelled) {
                    // the caller is gone
                }
            }, HOLD.toMillis(), TimeUnit.MILLISECONDS);
        }

        /**
         * Waits for the Describes of an execution before to be answered or cancelled (its control plane closed), and
         * for its connections to close: a probe dials a connection of its own, and one still open may yet bring a
         * Describe that left before the close.
         */
        void awaitIdle() {
            await(() -> held.isEmpty() && connections.get() == 0, "a Describe or a connection of an earlier execution"
                    + " still here: " + held.size() + " held, " + connections.get() + " connections");
        }
    }
}
