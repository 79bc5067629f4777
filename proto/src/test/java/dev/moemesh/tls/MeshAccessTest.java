package dev.moemesh.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.DrainResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.proto.UnloadExpertsResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The mesh's role table enforced over real TLS sockets: each server is a Netty gRPC server on a loopback port
 * requiring client certificates from the mesh CA, guarded by {@link MeshAccess}; each caller presents a certificate of
 * one role. A call the guard admits reaches the service (which answers); a refused one gets PERMISSION_DENIED and is
 * counted; a plaintext client or a certificate from another CA does not get past the handshake.
 */
class MeshAccessTest {

    private static final MeshCertificates CA = MeshCertificates.newCa("moemesh test CA");
    private static final MeshCertificates OTHER_CA = MeshCertificates.newCa("someone else's CA");
    private static final List<String> LOCAL = List.of("localhost", "127.0.0.1");
    private static final List<RoleGuard.Refusal> REFUSALS = new CopyOnWriteArrayList<>();
    private static final Map<Server, MeshRole> SERVES = new ConcurrentHashMap<>();

    private static Server controlPlane;
    private static Server experts;
    private static Server attention;

    @BeforeAll
    static void startServers() throws IOException {
        MeshTls tls = issue("orchestrator-0", MeshRole.ORCHESTRATOR, "orchestrator-0").meshTls();
        controlPlane = start(MeshRole.ORCHESTRATOR, tls, ServerInterceptors.intercept(new ControlPlaneGrpc.ControlPlaneImplBase() {
            @Override
            public void register(RegisterRequest request, StreamObserver<RegisterResponse> out) {
                out.onNext(RegisterResponse.newBuilder().setPlacementVersion(7).build());
                out.onCompleted();
            }

            @Override
            public void drain(DrainRequest request, StreamObserver<DrainResponse> out) {
                out.onNext(DrainResponse.newBuilder().setPlacementVersion(8).build());
                out.onCompleted();
            }
        }, MeshAccess.controlPlane(REFUSALS::add)));
        experts = start(MeshRole.EXPERT, issue("expert-0", MeshRole.EXPERT, "expert-0").meshTls(),
                ServerInterceptors.intercept(new ExpertServiceGrpc.ExpertServiceImplBase() {
                    @Override
                    public void runExperts(RunExpertsRequest request, StreamObserver<RunExpertsResponse> out) {
                        out.onNext(RunExpertsResponse.newBuilder().setSequence(3).build());
                        out.onCompleted();
                    }

                    @Override
                    public void unloadExperts(UnloadExpertsRequest request, StreamObserver<UnloadExpertsResponse> out) {
                        out.onNext(UnloadExpertsResponse.getDefaultInstance());
                        out.onCompleted();
                    }
                }, MeshAccess.expertService(REFUSALS::add)));
        // Generate is not implemented here: a call the guard admits gets the service's UNIMPLEMENTED
        attention = start(MeshRole.ATTENTION, issue("attention-0", MeshRole.ATTENTION, "attention-0").meshTls(),
                ServerInterceptors.intercept(new AttentionServiceGrpc.AttentionServiceImplBase() {},
                        MeshAccess.attentionService(REFUSALS::add)));
    }

    @AfterAll
    static void stopServers() throws InterruptedException {
        for (Server server : new Server[] {controlPlane, experts, attention}) {
            if (server != null) server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    // --- the expert service

    @Test
    void runExpertsIsAdmittedFromAnAttentionCertificateOnly() {
        RunExpertsRequest request = RunExpertsRequest.getDefaultInstance();
        assertEquals(3, call(experts, as(MeshRole.ATTENTION, "attention-0"),
                ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(request)).getSequence());
        for (MeshRole wrong : List.of(MeshRole.ROUTER, MeshRole.ORCHESTRATOR, MeshRole.EXPERT, MeshRole.OPERATOR)) {
            assertRefused(experts, as(wrong, wrong.label() + "-1"), "RunExperts", "it takes attention certificates",
                    ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(request));
        }
    }

    @Test
    void unloadExpertsIsAdmittedFromTheControlPlaneAndAnOperatorOnly() {
        UnloadExpertsRequest request = UnloadExpertsRequest.getDefaultInstance();
        call(experts, as(MeshRole.ORCHESTRATOR, "orchestrator-0"), ch -> ExpertServiceGrpc.newBlockingStub(ch).unloadExperts(request));
        call(experts, as(MeshRole.OPERATOR, "ops"), ch -> ExpertServiceGrpc.newBlockingStub(ch).unloadExperts(request));
        for (MeshRole wrong : List.of(MeshRole.ATTENTION, MeshRole.EXPERT, MeshRole.ROUTER)) {
            assertRefused(experts, as(wrong, "x"), "UnloadExperts", "it takes operator or orchestrator certificates",
                    ch -> ExpertServiceGrpc.newBlockingStub(ch).unloadExperts(request));
        }
    }

    // --- the attention service

    @Test
    void generateIsAdmittedFromTheDoorsOnly() {
        for (MeshRole door : List.of(MeshRole.ROUTER, MeshRole.ORCHESTRATOR)) {
            StatusRuntimeException reached = assertThrows(StatusRuntimeException.class, () -> call(attention,
                    as(door, door.label()), ch -> AttentionServiceGrpc.newBlockingStub(ch)
                            .generate(GenerateRequest.getDefaultInstance()).hasNext()));
            assertEquals(Status.Code.UNIMPLEMENTED, reached.getStatus().getCode(), "the service itself answered");
        }
        for (MeshRole wrong : List.of(MeshRole.ATTENTION, MeshRole.EXPERT, MeshRole.OPERATOR)) {
            assertRefused(attention, as(wrong, "x"), "Generate", "it takes orchestrator or router certificates",
                    ch -> AttentionServiceGrpc.newBlockingStub(ch).generate(GenerateRequest.getDefaultInstance()).hasNext());
        }
    }

    // --- the control plane

    @Test
    void registeringAsAnExpertTakesAnExpertCertificate() {
        RegisterRequest asExpert = RegisterRequest.newBuilder().setInstanceId("expert-7").setRole(Role.ROLE_EXPERT)
                .setAddress("localhost:9100").build();
        assertEquals(7, call(controlPlane, as(MeshRole.EXPERT, "expert-7"),
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asExpert)).getPlacementVersion());
        assertRefused(controlPlane, as(MeshRole.ATTENTION, "expert-7"), "Register",
                "registering as expert takes a certificate of that role",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asExpert));
        assertRefused(controlPlane, as(MeshRole.ROUTER, "expert-7"), "Register",
                "registering as expert takes a certificate of that role",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asExpert));
        assertRefused(controlPlane, as(MeshRole.OPERATOR, "expert-7"), "Register",
                "it takes attention or expert or router certificates",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asExpert));
        // a rogue registration under another instance's name, with a real expert certificate of its own
        assertRefused(controlPlane, as(MeshRole.EXPERT, "expert-8"), "Register",
                "the certificate speaks for [expert-8], not 'expert-7'",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asExpert));
    }

    @Test
    void registeringAsARouterTakesARouterCertificate() {
        RegisterRequest asRouter = RegisterRequest.newBuilder().setInstanceId("router-1").setRole(Role.ROLE_ROUTER)
                .setAddress("localhost:9300").build();
        assertEquals(7, call(controlPlane, as(MeshRole.ROUTER, "router-1"),
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asRouter)).getPlacementVersion());
        assertRefused(controlPlane, as(MeshRole.EXPERT, "router-1"), "Register",
                "registering as router takes a certificate of that role",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asRouter));
        assertRefused(controlPlane, as(MeshRole.ROUTER, "router-2"), "Register",
                "the certificate speaks for [router-2], not 'router-1'",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).register(asRouter));
    }

    @Test
    void drainIsAdmittedFromTheInstanceItselfOrAnOperatorOnly() {
        DrainRequest drain = DrainRequest.newBuilder().setInstanceId("expert-3").build();
        assertEquals(8, call(controlPlane, as(MeshRole.EXPERT, "expert-3"),
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain)).getPlacementVersion());
        assertEquals(8, call(controlPlane, as(MeshRole.OPERATOR, "ops"),
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain)).getPlacementVersion());
        // one certificate per role (a Kubernetes Secret per Deployment) names no instance: a pod stopping drains itself
        assertEquals(8, call(controlPlane, CA.issue("expert-pool", Set.of(MeshRole.EXPERT), Set.of(), LOCAL).meshTls(),
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain)).getPlacementVersion());
        assertRefused(controlPlane, as(MeshRole.EXPERT, "expert-4"), "Drain",
                "draining 'expert-3' takes an operator certificate or that instance's own",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain));
        assertRefused(controlPlane, as(MeshRole.ROUTER, "router"), "Drain",
                "draining 'expert-3' takes an operator certificate or that instance's own",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain));
        assertRefused(controlPlane, CA.issue("router-pool", Set.of(MeshRole.ROUTER), Set.of(), LOCAL).meshTls(), "Drain",
                "draining 'expert-3' takes an operator certificate or that instance's own",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain));
        assertEquals(8, call(controlPlane, as(MeshRole.ROUTER, "router-1"), ch -> ControlPlaneGrpc.newBlockingStub(ch)
                .drain(DrainRequest.newBuilder().setInstanceId("router-1").build())).getPlacementVersion(),
                "a router leaves as itself");
        assertRefused(controlPlane, as(MeshRole.ORCHESTRATOR, "orchestrator-0"), "Drain",
                "it takes attention or expert or operator or router certificates",
                ch -> ControlPlaneGrpc.newBlockingStub(ch).drain(drain));
    }

    // --- the server as its callers check it

    @Test
    void aServerIsTrustedForTheMeshCaAndTheRoleDialedWhateverAddressItIsDialedAt() throws Exception {
        // an expert pod is dialed at its IP, which its certificate (issued per role, naming Service host names) lacks
        AtomicInteger calls = new AtomicInteger();
        Server pod = start(MeshRole.EXPERT, CA.issue("expert-pool", Set.of(MeshRole.EXPERT), Set.of(),
                List.of("expert-pool.moemesh.svc")).meshTls(), answering(5, calls));
        try {
            assertEquals(5, call(pod, as(MeshRole.ATTENTION, "attention-0"),
                    ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(RunExpertsRequest.getDefaultInstance()))
                    .getSequence());
            assertEquals(1, calls.get());
        } finally {
            pod.shutdownNow();
        }
    }

    @Test
    void aServerOfTheWrongRoleAtAnExpertsAddressIsSentNothing() throws Exception {
        // a stolen router certificate (or one naming no role) serving at an expert's address: the attention service's
        // channel, which expects an expert, fails the handshake and sends it no hidden states
        for (Set<MeshRole> presented : List.of(Set.of(MeshRole.ROUTER), Set.of(MeshRole.ATTENTION, MeshRole.OPERATOR),
                Set.<MeshRole>of())) {
            AtomicInteger calls = new AtomicInteger();
            Server rogue = start(MeshRole.EXPERT, CA.issue("rogue", presented, Set.of(), LOCAL).meshTls(),
                    answering(6, calls));
            try {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(rogue,
                        as(MeshRole.ATTENTION, "attention-0"), ch -> ExpertServiceGrpc.newBlockingStub(ch)
                                .withDeadlineAfter(10, TimeUnit.SECONDS).runExperts(RunExpertsRequest.getDefaultInstance())));
                assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
                String roles = presented.isEmpty() ? "[none]" : new MeshIdentity(presented, Set.of(), "").rolesLabel();
                assertTrue(e.getStatus().getDescription().contains("expected a certificate naming role expert, it "
                        + "presents " + roles + " (CN=rogue"), e.getStatus().toString());
                assertInstanceOf(MeshPeerTrust.WrongServer.class, rootCause(e), "the TLS handshake failed it");
                assertEquals(0, calls.get(), "the rogue server received a call");
            } finally {
                rogue.shutdownNow();
            }
        }
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null) t = t.getCause();
        return t;
    }

    private static io.grpc.ServerServiceDefinition answering(long sequence, AtomicInteger calls) {
        return new ExpertServiceGrpc.ExpertServiceImplBase() {
            @Override
            public void runExperts(RunExpertsRequest request, StreamObserver<RunExpertsResponse> out) {
                calls.incrementAndGet();
                out.onNext(RunExpertsResponse.newBuilder().setSequence(sequence).build());
                out.onCompleted();
            }
        }.bindService();
    }

    // --- no certificate, or not the mesh's

    @Test
    void aPlaintextClientDoesNotGetPastTheHandshake() {
        for (Server server : new Server[] {controlPlane, experts, attention}) {
            ManagedChannel channel = MeshChannels.PLAINTEXT.forTarget("localhost:" + server.getPort(), SERVES.get(server))
                    .build();
            try {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ExpertServiceGrpc
                        .newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .runExperts(RunExpertsRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void aCertificateFromAnotherCaDoesNotGetPastTheHandshake() {
        // the stranger trusts the mesh's CA (it knows whom it calls) but its certificate is signed by its own
        MeshTls stranger = OTHER_CA.issue("attention-0", Set.of(MeshRole.ATTENTION), Set.of("attention-0"), LOCAL)
                .meshTls(CA.certificate());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(experts, stranger,
                ch -> ExpertServiceGrpc.newBlockingStub(ch).runExperts(RunExpertsRequest.getDefaultInstance())));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    }

    @Test
    void everyMethodOfTheThreeServicesHasARule() {
        // build() refuses a service with a method that has none; a new RPC must be given its roles
        MeshAccess.controlPlane(r -> {});
        MeshAccess.expertService(r -> {});
        MeshAccess.attentionService(r -> {});
        assertThrows(IllegalStateException.class, () -> RoleGuard.builder()
                .allow(ExpertServiceGrpc.getRunExpertsMethod(), MeshRole.ATTENTION)
                .build(Set.of(ExpertServiceGrpc.getServiceDescriptor()), r -> {}));
    }

    // --- helpers

    private static MeshCertificates.Issued issue(String name, MeshRole role, String instance) {
        return CA.issue(name, Set.of(role), Set.of(instance), LOCAL);
    }

    private static MeshTls as(MeshRole role, String instance) {
        return issue(instance, role, instance).meshTls();
    }

    /** @param dialedAs the role its callers dial it as (a rogue server's certificate may name another) */
    private static Server start(MeshRole dialedAs, MeshTls tls, io.grpc.ServerServiceDefinition service)
            throws IOException {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("localhost", 0))
                .sslContext(tls.serverContext()).addService(service).build().start();
        SERVES.put(server, dialedAs);
        return server;
    }

    private static <T> T call(Server server, MeshTls tls, Function<ManagedChannel, T> rpc) {
        ManagedChannel channel = MeshChannels.tls(tls).forTarget("localhost:" + server.getPort(), SERVES.get(server))
                .build();
        try {
            return rpc.apply(channel);
        } finally {
            channel.shutdownNow();
        }
    }

    private static void assertRefused(Server server, MeshTls tls, String method, String why,
                                      Function<ManagedChannel, ?> rpc) {
        int before = REFUSALS.size();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(server, tls, rpc));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode(), e.toString());
        String line = e.getStatus().getDescription();
        assertTrue(line.startsWith("refused ") && line.contains("/" + method + ": ") && line.contains(why), line);
        assertTrue(REFUSALS.size() > before, "the refusal is counted");
        assertTrue(REFUSALS.getLast().method().endsWith("/" + method), REFUSALS.getLast().toString());
    }
}
