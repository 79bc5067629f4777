package dev.moemesh.orchestrator.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.ReportUnreachableRequest;
import dev.moemesh.proto.Replica;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.proto.WatchPlacementRequest;
import dev.moemesh.testing.PlacementWatcher;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * The ControlPlane service over real gRPC (loopback), with two real expert-service processes on the tiny model
 * (MoE layers 1 and 2, 16 routed experts each): registration, heartbeats, watching, LoadExperts before a placement
 * is published and UnloadExperts after, draining, and the load-driven re-plan.
 */
class ControlPlaneGrpcServiceTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    private static final String FINGERPRINT = ModelFingerprint.of(MODEL);
    private static final List<Integer> MOE_LAYERS = List.of(1, 2);

    private static LocalMesh mesh;
    private static LocalMesh.Service expertsA;
    private static LocalMesh.Service expertsB;

    private ControlPlane controlPlane;
    private Server server;
    private ManagedChannel channel;
    private ScheduledExecutorService heartbeats;
    private final Map<String, LocalMesh.Service> beating = new ConcurrentHashMap<>();
    /** Attention services registered here, with the placement version each heartbeat says they route with. */
    private final Map<String, AtomicLong> attentionBeating = new ConcurrentHashMap<>();

    @BeforeAll
    static void startExpertServices() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        expertsA = mesh.startExpertService("control-experts-a", MODEL, "*:0-7", LocalMesh.freePort(),
                Duration.ofMinutes(3));
        expertsB = mesh.startExpertService("control-experts-b", MODEL, "*:8-15", LocalMesh.freePort(),
                Duration.ofMinutes(3));
    }

    @AfterAll
    static void stopExpertServices() {
        if (mesh != null) mesh.close();
    }

    /** Each test starts from A holding experts 0-7 and B 8-15 of both MoE layers; what it registers heartbeats. */
    @BeforeEach
    void resetExpertServices() {
        holdOnly(expertsA, 0, 7);
        holdOnly(expertsB, 8, 15);
        heartbeats = Executors.newSingleThreadScheduledExecutor();
        heartbeats.scheduleWithFixedDelay(this::beat, 100, 100, TimeUnit.MILLISECONDS);
    }

    private void serve(ControlPlaneOptions options) throws IOException {
        serve(options, Optional.empty());
    }

    private void serve(ControlPlaneOptions options, Optional<ServedModel> model) throws IOException {
        controlPlane = ControlPlane.start(options, model, Clock.systemUTC());
        server = NettyServerBuilder.forPort(0).addService(new ControlPlaneGrpcService(controlPlane)).build().start();
        channel = NettyChannelBuilder.forTarget("localhost:" + server.getPort()).usePlaintext().build();
    }

    private ControlPlaneGrpc.ControlPlaneBlockingStub stub() {
        return ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Heartbeat every 300 ms, dead after 5 missed; unused experts unloaded after 500 ms; no settle time. */
    private static ControlPlaneOptions options(int redundantReplicas, Duration rebalanceInterval) {
        return options(redundantReplicas, rebalanceInterval, Duration.ZERO);
    }

    private static ControlPlaneOptions options(int redundantReplicas, Duration rebalanceInterval, Duration settle) {
        return new ControlPlaneOptions(Duration.ofMillis(300), 5, rebalanceInterval, 0.05, 1, redundantReplicas, 0.05,
                Duration.ofMinutes(5), WAIT, Duration.ofMillis(500), 16, settle);
    }

    @AfterEach
    void stopControlPlane() throws InterruptedException {
        heartbeats.shutdownNow();
        heartbeats.awaitTermination(5, TimeUnit.SECONDS);
        beating.clear();
        attentionBeating.clear();
        if (channel != null) channel.shutdownNow();
        if (server != null) server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        if (controlPlane != null) controlPlane.close();
    }

    @Test
    void aWatcherSeesEachExpertServiceJoinDieAndReturn() throws Exception {
        serve(options(0, Duration.ofHours(1)));
        PlacementWatcher watcher = watch("attention-0");
        assertEquals(0, watcher.next().getVersion(), "nothing placed yet");

        assertEquals(300, stub().register(RegisterRequest.newBuilder().setInstanceId("attention-0")
                .setRole(Role.ROLE_ATTENTION).setAddress("localhost:9200").setModelFingerprint(FINGERPRINT).build())
                .getHeartbeatIntervalMs());
        register("experts-a", expertsA);
        Placement onA = watcher.await("experts 0-7 on A",
                p -> servedBy(p, 0, 7, expertsA) && p.getExpertsCount() == 16);
        assertEquals(FINGERPRINT, onA.getModelFingerprint());

        register("experts-b", expertsB);
        Placement both = watcher.await("0-7 on A, 8-15 on B",
                p -> servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, expertsB));
        assertTrue(both.getVersion() > onA.getVersion());

        beating.remove("experts-b");
        Placement alone = watcher.await("everything on A after B died", p -> servedBy(p, 0, 15, expertsA));
        assertEquals(experts(0, 15), held(expertsA), "A loaded 8-15 before the placement that uses them came out");
        assertFalse(stub().heartbeat(HeartbeatRequest.newBuilder().setInstanceId("experts-b").build()).getKnown(),
                "a dead instance is told to register again");

        register("experts-b", expertsB);
        Placement back = watcher.await("8-15 back on B, which still holds them",
                p -> servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, expertsB));
        assertTrue(back.getVersion() > alone.getVersion());
        awaitHeld(expertsA, experts(0, 7), "A unloads 8-15 once the grace period is over");
    }

    @Test
    void anExpertServiceReportedUnreachableIsReplacedAtOnceWhenItFailsAProbeAndKeptWhenItAnswers() throws Exception {
        // a heartbeat deadline of a minute: only the report can explain a placement without the dead one in seconds
        serve(new ControlPlaneOptions(Duration.ofMillis(300), 200, Duration.ofHours(1), 0.05, 1, 0, 0.05,
                Duration.ofMinutes(5), WAIT, Duration.ofMillis(500), 16, Duration.ZERO));
        PlacementWatcher watcher = watch("attention-0");
        assertEquals(0, watcher.next().getVersion());
        register("experts-a", expertsA);
        // a service that died without a word: registered holding 8-15 at a port nothing listens on, and its
        // heartbeats go on (as from a process that is alive but cut off from its callers)
        LocalMesh.Service ghost = new LocalMesh.Service("ghost", "localhost:" + LocalMesh.freePort(), 0, 0, null, null);
        RegisterRequest.Builder r = RegisterRequest.newBuilder().setInstanceId("experts-ghost").setRole(Role.ROLE_EXPERT)
                .setAddress(ghost.address()).setModelFingerprint(FINGERPRINT);
        experts(8, 15).forEach(e -> r.addHeld(layerExpert(e)));
        stub().register(r.build());
        beating.put("experts-ghost", ghost);
        Placement split = watcher.await("0-7 on A, 8-15 on the ghost",
                p -> servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, ghost));

        assertTrue(stub().reportUnreachable(ReportUnreachableRequest.newBuilder().setInstanceId("attention-0")
                .setAddress(expertsA.address()).setReason("a stream broke").build()).getProbing());
        assertNull(watcher.poll(Duration.ofSeconds(2)), "A answers the probe: it stays, nothing is re-placed");
        assertFalse(stub().reportUnreachable(ReportUnreachableRequest.newBuilder().setInstanceId("attention-0")
                .setAddress("localhost:1").build()).getProbing(), "not an expert service of this mesh");

        long reported = System.nanoTime();
        assertTrue(stub().reportUnreachable(ReportUnreachableRequest.newBuilder().setInstanceId("attention-0")
                .setAddress(ghost.address()).setReason("a stream broke").build()).getProbing());
        Placement alone = watcher.await("everything on A", p -> servedBy(p, 0, 15, expertsA));
        long ms = (System.nanoTime() - reported) / 1_000_000;
        assertTrue(alone.getVersion() > split.getVersion());
        assertTrue(ms < 20_000, "re-placed " + ms + " ms after the report, not after the heartbeat deadline of 60 s");
        assertEquals(experts(0, 15), held(expertsA), "A loaded 8-15 before the placement that uses them came out");
        assertEquals(1, controlPlane.deadOnReport());
        assertFalse(stub().heartbeat(HeartbeatRequest.newBuilder().setInstanceId("experts-ghost").build()).getKnown(),
                "the service taken for dead is told so at its next heartbeat");
        beating.remove("experts-ghost");
    }

    @Test
    void unusedExpertsAreUnloadedOnceEveryAttentionServiceRoutesWithoutThemOrTheWaitLimitIsOver() throws Exception {
        ControlPlaneOptions options = options(0, Duration.ofHours(1));
        PlacementWatcher watcher = serveBoth(options);
        AtomicLong inUse = new AtomicLong();
        registerAttention("attention-0", inUse);
        inUse.set(watcher.await("0-7 on A, 8-15 on B", ControlPlaneGrpcServiceTest::split).getVersion());

        // B dies and comes back: A loads 8-15 for the placement without B, and no longer needs them after
        Placement alone = bounceB(watcher);
        inUse.set(alone.getVersion());
        Placement back = watcher.await("8-15 back on B", ControlPlaneGrpcServiceTest::split);
        long backSeen = System.nanoTime();
        Thread.sleep(options.unloadGrace().multipliedBy(2).toMillis());
        assertEquals(experts(0, 15), held(expertsA), "past the grace A keeps 8-15: attention-0 still routes with"
                + " version " + alone.getVersion());
        inUse.set(back.getVersion());
        awaitHeld(expertsA, experts(0, 7), "A unloads 8-15 once attention-0 reports version " + back.getVersion());
        assertTrue(System.nanoTime() - backSeen < options.unloadWaitLimit().toNanos(),
                "unloaded on attention-0's report, before the wait limit");

        // an attention service that does not switch holds the unload back up to the wait limit, not longer
        alone = bounceB(watcher);
        inUse.set(alone.getVersion());
        back = watcher.await("8-15 back on B again", ControlPlaneGrpcServiceTest::split);
        backSeen = System.nanoTime();
        Thread.sleep(options.unloadGrace().multipliedBy(2).toMillis());
        assertEquals(experts(0, 15), held(expertsA), "attention-0 still routes with version " + alone.getVersion());
        awaitHeld(expertsA, experts(0, 7), "A unloads 8-15 after the wait limit although attention-0 never switched"
                + " to " + back.getVersion());
        assertTrue(System.nanoTime() - backSeen >= options.unloadWaitLimit().toNanos() - 500_000_000L,
                "not before the wait limit, " + options.unloadWaitLimit().toMillis() + " ms (less 500 ms: the"
                        + " placement came out a little before this side saw it)");
    }

    private static boolean split(Placement p) {
        return servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, expertsB);
    }

    /** Stops B's heartbeats until the placement without B is out, then registers B again; that placement. */
    private Placement bounceB(PlacementWatcher watcher) throws InterruptedException {
        beating.remove("experts-b");
        Placement alone = watcher.await("everything on A after B died", p -> servedBy(p, 0, 15, expertsA));
        assertEquals(experts(0, 15), held(expertsA), "A loaded 8-15 before the placement that uses them came out");
        register("experts-b", expertsB);
        return alone;
    }

    @Test
    void duringTheSettleTimeTheFirstPlacementWaitsForTheServiceHoldingTheRestSoNoneLoadsAnothersExperts()
            throws Exception {
        serve(options(0, Duration.ofHours(1), Duration.ofSeconds(30)), Optional.of(ServedModel.read(MODEL)));
        PlacementWatcher watcher = watch("attention-0");
        assertEquals(0, watcher.next().getVersion(), "nothing placed yet");
        register("experts-a", expertsA);
        assertEquals(null, watcher.poll(Duration.ofSeconds(2)), "A alone holds half the experts: no placement yet");

        register("experts-b", expertsB);
        watcher.await("0-7 on A, 8-15 on B", p -> servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, expertsB));
        assertEquals(experts(0, 7), held(expertsA), "A was never asked to load B's experts");
        assertEquals(experts(8, 15), held(expertsB));
    }

    @Test
    void whenTheSettleTimeEndsTheServicesRegisteredByThenArePlaced() throws Exception {
        serve(options(0, Duration.ofHours(1), Duration.ofSeconds(2)), Optional.of(ServedModel.read(MODEL)));
        PlacementWatcher watcher = watch("attention-0");
        assertEquals(0, watcher.next().getVersion(), "nothing placed yet");
        register("experts-a", expertsA);
        watcher.await("everything on A once the settle time is over", p -> servedBy(p, 0, 15, expertsA));
        assertEquals(experts(0, 15), held(expertsA), "A loaded 8-15 before the placement that uses them came out");
    }

    @Test
    void drainingMovesExpertsOffAndIsRefusedWhenNoOneCouldTakeThem() throws Exception {
        PlacementWatcher watcher = serveBoth(options(0, Duration.ofHours(1)));
        watcher.await("both", p -> servedBy(p, 0, 7, expertsA) && servedBy(p, 8, 15, expertsB));

        long version = stub().drain(DrainRequest.newBuilder().setInstanceId("experts-b").build()).getPlacementVersion();
        Placement drained = watcher.await("everything on A", p -> servedBy(p, 0, 15, expertsA));
        assertEquals(version, drained.getVersion(), "Drain answers with the first version without B");
        assertEquals(experts(0, 15), held(expertsA));

        var refused = assertThrows(StatusRuntimeException.class,
                () -> stub().drain(DrainRequest.newBuilder().setInstanceId("experts-a").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertEquals("layer 1 has 16 routed experts but the 2 expert instances hold at most 0 of them"
                + " (experts-a: 0, experts-b: 0); add an expert instance or raise its expert_slots",
                refused.getStatus().getDescription());
        assertEquals(version, controlPlane.current().version(), "a refused drain publishes nothing");

        var unknown = assertThrows(StatusRuntimeException.class,
                () -> stub().drain(DrainRequest.newBuilder().setInstanceId("experts-z").build()));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
    }

    @Test
    void anotherModelIsRefusedAtRegisterAndWatch() throws Exception {
        serve(options(0, Duration.ofHours(1)));
        register("experts-a", expertsA);
        var register = assertThrows(StatusRuntimeException.class, () -> stub().register(RegisterRequest.newBuilder()
                .setInstanceId("experts-x").setRole(Role.ROLE_EXPERT).setAddress("localhost:1")
                .setModelFingerprint("0123456789abcdef").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, register.getStatus().getCode());
        assertEquals("instance 'experts-x' has model_fingerprint '0123456789abcdef' but this mesh serves '"
                + FINGERPRINT + "' (the fingerprint instance 'experts-a' registered with first); start it on the same"
                + " checkpoint", register.getStatus().getDescription());

        var watch = assertThrows(StatusRuntimeException.class, () -> ControlPlaneGrpc.newBlockingStub(channel)
                .watchPlacement(WatchPlacementRequest.newBuilder().setInstanceId("attention-x")
                        .setModelFingerprint("0123456789abcdef").build()).next());
        assertEquals(Status.Code.FAILED_PRECONDITION, watch.getStatus().getCode());
        assertTrue(watch.getStatus().getDescription().contains("'" + FINGERPRINT + "'"));

        var noRole = assertThrows(StatusRuntimeException.class, () -> stub().register(RegisterRequest.newBuilder()
                .setInstanceId("experts-y").setAddress("localhost:1").setModelFingerprint(FINGERPRINT).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noRole.getStatus().getCode());
        assertEquals("instance 'experts-y' gives role ROLE_UNSPECIFIED; ROLE_ATTENTION, ROLE_EXPERT or ROLE_ROUTER",
                noRole.getStatus().getDescription());
    }

    @Test
    void aHotExpertGetsAReplicaOnceItsLoadShowsAndOnlyWhenThatPays() throws Exception {
        PlacementWatcher watcher = serveBoth(options(1, Duration.ofMillis(500)));
        // all idle: the extra replica of each layer goes to its expert 0 (ties go to the lower id)
        Placement uniform = watcher.await("both", p -> p.getExpertsCount() == 32 && replicas(p, 1, 0).size() == 2);
        assertEquals(1, replicas(uniform, 1, 3).size());

        // expert 1:3 (on A) takes nearly all of layer 1's rows: the extra replica is worth more there, on B
        stub().heartbeat(HeartbeatRequest.newBuilder().setInstanceId("experts-a")
                .addTokens(ExpertTokens.newBuilder().setLayer(1).setExpert(3).setTokens(10_000)).build());
        Placement hot = watcher.await("a second replica of 1:3", p -> replicas(p, 1, 3).size() == 2);
        assertTrue(hot.getVersion() > uniform.getVersion());
        assertEquals(Set.of(expertsA.address(), expertsB.address()),
                replicas(hot, 1, 3).stream().map(Replica::getAddress).collect(Collectors.toSet()));
        // each replica names the instance registered at its address: what a TLS client expects its certificate to name
        assertEquals(Set.of("experts-a", "experts-b"),
                replicas(hot, 1, 3).stream().map(Replica::getInstanceId).collect(Collectors.toSet()));
        replicas(hot, 1, 3).forEach(r -> assertEquals(0.5, r.getWeight(), 1e-12));
        assertTrue(held(expertsB).contains(new ExpertId(1, 3)), "B loaded 1:3 before the placement came out");

        // the same load again: nothing better to publish, so no churn
        assertNull(watcher.poll(Duration.ofMillis(1500)), "no new version while the load stays the same");
    }

    private static Set<ExpertId> experts(int from, int to) {
        TreeSet<ExpertId> s = new TreeSet<>();
        for (int layer : MOE_LAYERS) for (int e = from; e <= to; e++) s.add(new ExpertId(layer, e));
        return s;
    }

    private static List<Replica> replicas(Placement p, int layer, int expert) {
        return p.getExpertsList().stream().filter(e -> e.getLayer() == layer && e.getExpert() == expert)
                .findFirst().map(ExpertReplicas::getReplicasList).orElse(List.of());
    }

    /** Whether experts from..to of every MoE layer are served by exactly {@code service}. */
    private static boolean servedBy(Placement p, int from, int to, LocalMesh.Service service) {
        for (ExpertId e : experts(from, to)) {
            List<Replica> rs = replicas(p, e.layer(), e.expert());
            if (rs.size() != 1 || !rs.getFirst().getAddress().equals(service.address())) return false;
        }
        return true;
    }

    private static ExpertServiceGrpc.ExpertServiceBlockingStub expertService(ManagedChannel c) {
        return ExpertServiceGrpc.newBlockingStub(c).withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static Set<ExpertId> held(LocalMesh.Service s) {
        ManagedChannel c = NettyChannelBuilder.forTarget(s.address()).usePlaintext().build();
        try {
            TreeSet<ExpertId> held = new TreeSet<>();
            expertService(c).describe(DescribeRequest.getDefaultInstance()).getHeldList()
                    .forEach(e -> held.add(new ExpertId(e.getLayer(), e.getExpert())));
            return held;
        } finally {
            c.shutdownNow();
        }
    }

    private static void awaitHeld(LocalMesh.Service s, Set<ExpertId> expected, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!held(s).equals(expected)) {
            if (System.nanoTime() > deadline) throw new AssertionError(what + ": " + s.name() + " holds " + held(s));
            Thread.sleep(100);
        }
    }

    private static void holdOnly(LocalMesh.Service s, int from, int to) {
        ManagedChannel c = NettyChannelBuilder.forTarget(s.address()).usePlaintext().build();
        try {
            Set<ExpertId> wanted = experts(from, to);
            LoadExpertsRequest.Builder load = LoadExpertsRequest.newBuilder();
            wanted.forEach(e -> load.addExperts(layerExpert(e)));
            expertService(c).loadExperts(load.build());
            UnloadExpertsRequest.Builder unload = UnloadExpertsRequest.newBuilder();
            held(s).stream().filter(e -> !wanted.contains(e)).forEach(e -> unload.addExperts(layerExpert(e)));
            if (unload.getExpertsCount() > 0) expertService(c).unloadExperts(unload.build());
        } finally {
            c.shutdownNow();
        }
    }

    private static LayerExpert layerExpert(ExpertId e) {
        return LayerExpert.newBuilder().setLayer(e.layer()).setExpert(e.expert()).build();
    }

    /** Registers a real expert service with what it holds now, as it would itself, and keeps it heartbeating. */
    private void register(String id, LocalMesh.Service s) {
        RegisterRequest.Builder r = RegisterRequest.newBuilder().setInstanceId(id).setRole(Role.ROLE_EXPERT)
                .setAddress(s.address()).setModelFingerprint(FINGERPRINT);
        held(s).forEach(e -> r.addHeld(layerExpert(e)));
        stub().register(r.build());
        beating.put(id, s);
    }

    /** Registers an attention service and keeps it heartbeating the version {@code inUse} holds. */
    private void registerAttention(String id, AtomicLong inUse) {
        stub().register(RegisterRequest.newBuilder().setInstanceId(id).setRole(Role.ROLE_ATTENTION)
                .setAddress("localhost:9200").setModelFingerprint(FINGERPRINT).build());
        attentionBeating.put(id, inUse);
    }

    /** What a registered service does between registrations: heartbeat, and register again when not known. */
    private void beat() {
        attentionBeating.forEach((id, inUse) -> {
            try {
                ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS).heartbeat(
                        HeartbeatRequest.newBuilder().setInstanceId(id).setPlacementVersion(inUse.get()).build());
            } catch (RuntimeException e) {
                // the control plane is closing; the next test starts another
            }
        });
        beating.forEach((id, s) -> {
            try {
                var answer = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                        .heartbeat(HeartbeatRequest.newBuilder().setInstanceId(id).build());
                if (!answer.getKnown() && beating.containsKey(id)) register(id, s);
            } catch (RuntimeException e) {
                // the control plane is closing; the next test starts another
            }
        });
    }

    /** A control plane with A and B registered, and a watcher that has seen nothing but version 0 yet. */
    private PlacementWatcher serveBoth(ControlPlaneOptions options) throws IOException, InterruptedException {
        serve(options);
        PlacementWatcher watcher = watch("attention-0");
        assertEquals(0, watcher.next().getVersion());
        register("experts-a", expertsA);
        register("experts-b", expertsB);
        return watcher;
    }

    private PlacementWatcher watch(String id) {
        return PlacementWatcher.watch(channel, id, FINGERPRINT, WAIT);
    }
}
