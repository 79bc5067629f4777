package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mesh over mutual TLS with role certificates, as real processes: it serves the single-process engine's tokens,
 * and refuses plaintext callers and certificates of the wrong role; its channels refuse a server whose certificate does
 * not name the role they call.
 */
class MeshTlsTest {
    private static final Duration READY = Duration.ofMinutes(3);

    @Test
    void theDemoOverMutualTlsAnswersThroughKafkaGrpcAndRestWithTheLocalEnginesTokens(@TempDir Path home)
            throws Exception {
        MeshCliTest.Run r = MeshCliTest.run("demo", "--tls", "--home", home.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("same tokens: yes"), r.err());
        // every hop inside was TLS: each service says so, and the control plane admitted the registrations
        for (String service : List.of("orchestrator", "expert-service-1", "expert-service-2", "attention-service")) {
            String log = Files.readString(home.resolve("logs/" + service + ".log"));
            assertTrue(log.contains("mesh gRPC: mutual TLS (quarkus.tls.mesh)"), service + ":\n" + log);
            assertTrue(!log.contains("refused "), service + " refused a call of the mesh itself:\n" + log);
        }
        assertTrue(Files.readString(home.resolve("logs/router-service.log"))
                .contains("calls into the mesh: mutual TLS (quarkus.tls.mesh)"));
    }

    @Test
    void overTlsTheMeshServesDoorsOnlyAndRefusesPlaintextAndWrongRoles(@TempDir Path certs) throws Exception {
        Path model = TestModels.tiny(Preset.TINY_V3);
        GenerationRequest request = new GenerationRequest("tls-1", new int[] {0, 17, 42},
                new SamplingParams(12, 0f, 0, 1f, 0, null, true));
        Generation expected = new BatchingEngine(Model.load(model, 0), EngineOptions.defaults())
                .generate(List.of(request)).get(0);
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(),
                LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/tls"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")).overTls(certs)) {
            LocalMesh.Service experts = mesh.startExpertService("tls-experts", model, "*", LocalMesh.freePort(), READY);
            LocalMesh.Service attention = mesh.startAttentionService("tls-attention", model,
                    List.of(experts.address()), LocalMesh.freePort(), List.of(), READY);

            // a door's certificate: the same tokens as the local engine, the experts reached over TLS
            try (MeshClient door = new MeshClient(attention.address(), mesh.channelsAs("router-x", MeshRole.ROUTER))) {
                Generation got = door.generate(request, "");
                assertEquals(FinishReason.LENGTH, got.finishReason(), got.error());
                assertArrayEquals(expected.tokenIds(), got.tokenIds());
            }
            // plaintext: no answer past the TLS handshake
            try (MeshClient plaintext = new MeshClient(attention.address(), MeshChannels.PLAINTEXT)) {
                assertEquals(Status.Code.UNAVAILABLE, refusal(() -> plaintext.generate(request, "")).getCode());
            }
            // an expert service's certificate may not generate: PERMISSION_DENIED, one line naming the rule
            try (MeshClient expert = new MeshClient(attention.address(), mesh.channelsAs("rogue", MeshRole.EXPERT))) {
                Status s = refusal(() -> expert.generate(request, ""));
                assertEquals(Status.Code.PERMISSION_DENIED, s.getCode(), s.toString());
                assertTrue(s.getDescription().contains("it takes orchestrator or router certificates"), s.toString());
            }
            // a router's certificate may not run experts past the attention service
            ManagedChannel channel = mesh.channelsAs("router-y", MeshRole.ROUTER).forTarget(experts.address(),
                    MeshRole.EXPERT).build();
            try {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ExpertServiceGrpc
                        .newBlockingStub(channel).runExperts(RunExpertsRequest.getDefaultInstance()));
                assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode(), e.toString());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void anExpertsAddressServedWithAnotherRolesCertificateIsSentNoHiddenStates(@TempDir Path certs) throws Exception {
        Path model = TestModels.tiny(Preset.TINY_V3);
        GenerationRequest request = new GenerationRequest("tls-2", new int[] {0, 17, 42},
                new SamplingParams(6, 0f, 0, 1f, 0, null, true));
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(),
                LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/tls-server-role"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")).overTls(certs)) {
            LocalMesh.Service experts = mesh.startExpertService("tls-experts-2", model, "*", LocalMesh.freePort(), READY);
            // no waiting for a placement that heals: with the only expert service gone, a step fails at once
            LocalMesh.Service attention = mesh.startAttentionService("tls-attention-2", model,
                    List.of(experts.address()), LocalMesh.freePort(),
                    List.of("-Dattention.expert-heal-timeout=0s", "-Dattention.expert-timeout=10s"), READY);
            try (MeshClient door = new MeshClient(attention.address(), mesh.channelsAs("router-z", MeshRole.ROUTER))) {
                // the expert service's own certificate: served
                assertEquals(FinishReason.LENGTH, door.generate(request, "").finishReason());

                // the expert service dies; a process holding a router's certificate of the same CA takes its port
                experts.kill();
                AtomicInteger calls = new AtomicInteger();
                Server rogue = NettyServerBuilder.forAddress(new InetSocketAddress("localhost", experts.grpcPort()))
                        .sslContext(mesh.channelsAs("rogue-router", MeshRole.ROUTER).meshTls().orElseThrow()
                                .serverContext())
                        .addService(ServerInterceptors.intercept(new ExpertServiceGrpc.ExpertServiceImplBase() {},
                                new ServerInterceptor() {
                                    @Override
                                    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call,
                                            Metadata headers, ServerCallHandler<Q, A> next) {
                                        calls.incrementAndGet();
                                        return next.startCall(call, headers);
                                    }
                                }))
                        .build().start();
                try {
                    Generation failed = door.generate(request, "");
                    assertEquals(FinishReason.ERROR, failed.finishReason(), failed.error());
                    assertTrue(failed.error().contains("UNAVAILABLE: refused the server at localhost:"
                            + experts.grpcPort() + ": expected a certificate naming role expert, it presents [router]"),
                            failed.error());
                    assertEquals(0, calls.get(), "the rogue server was sent a call");
                    // the attention service's channel refused the server in the TLS handshake, for its role
                    String log = Files.readString(attention.log());
                    assertTrue(log.contains("refused the server at localhost:" + experts.grpcPort() + ": expected a "
                            + "certificate naming role expert, it presents [router] (CN=rogue-router"), log);
                } finally {
                    rogue.shutdownNow();
                }
            }
        }
    }

    private static Status refusal(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e.getStatus();
        } catch (RuntimeException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof StatusRuntimeException s) return s.getStatus();
            }
            throw new AssertionError("not a gRPC status: " + e, e);
        }
        throw new AssertionError("the call was admitted");
    }
}
