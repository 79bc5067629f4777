package dev.moemesh.attention.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RequestError;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Failover of {@link RemoteExperts} over real gRPC streams to stand-in expert services on loopback. The stand-ins
 * echo each request's rows, so a row written back to the wrong place shows, and can be told to refuse, hang or
 * break the stream: the failures a real expert service (another module, tested end to end in cli's
 * MeshIntegrationTest) cannot be made to show on demand.
 */
class RemoteExpertsFailoverTest {
    private static final int LAYER = 1;
    private static final ModelConfig CONFIG = ModelConfig.load(TestModels.tiny(Preset.TINY_V3));
    private static final int HIDDEN = CONFIG.hiddenSize();

    private final List<StandIn> standIns = new ArrayList<>();
    private final List<ExpertClient> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(ExpertClient::close);
        standIns.forEach(s -> s.server.shutdownNow());
    }

    /** Stand-ins that all hold experts 0-3 of {@link #LAYER}, and a RemoteExperts over them. */
    private RemoteExperts replicas(int count, Duration timeout, Duration openFor) {
        List<List<int[]>> held = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StandIn s = new StandIn();
            standIns.add(s);
            clients.add(new ExpertClient(s.address()));
            held.add(List.of(new int[] {LAYER, 0}, new int[] {LAYER, 1}, new int[] {LAYER, 2}, new int[] {LAYER, 3}));
        }
        return new RemoteExperts(clients, Placement.of(1, CONFIG, held), "fingerprint", timeout, openFor);
    }

    /** Experts 0-3 with 3, 1, 2 and 2 rows whose values are small integers, exact in bf16. */
    private static RoutedBatch batch() {
        int[] starts = {0, 3, 4, 6, 8};
        float[] input = new float[starts[4] * HIDDEN];
        for (int i = 0; i < input.length; i++) input[i] = (i * 7) % 251 - 125;
        return new RoutedBatch(LAYER, HIDDEN, new int[] {0, 1, 2, 3}, starts, new int[starts[4]], input,
                new float[input.length]);
    }

    /** Runs a batch, checks every row came back, and says how long it took, in milliseconds. */
    private static long runAllRowsBack(RemoteExperts experts) {
        RoutedBatch batch = batch();
        long started = System.nanoTime();
        experts.run(batch);
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertArrayEquals(batch.input(), batch.output(), "each row back in its place");
        return tookMs;
    }

    @Test
    void aShareWhoseStreamBreaksIsResentToTheOtherReplica() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        standIns.get(0).behaviour = Behaviour.BREAK;
        runAllRowsBack(experts);
        assertEquals(1, experts.callsRetried());
        assertEquals(InstanceBreaker.State.OPEN, experts.services().get(0).breaker());
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(1).breaker());
    }

    @Test
    void aServiceThatWentAwayBetweenCallsIsPassedOverWithoutWaitingForItsConnection() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        experts.run(batch());
        standIns.get(0).server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!clients.get(0).streamBroken() && System.nanoTime() < giveUp) Thread.sleep(10);

        long tookMs = runAllRowsBack(experts);
        assertTrue(tookMs < 1_000, "no wait for the gone service's connection: " + tookMs + " ms");
        assertEquals(0, experts.callsRetried(), "nothing had to be re-sent");
        assertEquals(InstanceBreaker.State.OPEN, experts.services().get(0).breaker());
    }

    @Test
    void anOpenServiceIsPassedOverUntilOneCallProbesItAndItsAnswerPutsItBackInUse() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(1));
        StandIn first = standIns.get(0);
        first.behaviour = Behaviour.BREAK;
        experts.run(batch());
        first.behaviour = Behaviour.ECHO;
        int before = first.requests.get();

        runAllRowsBack(experts);
        assertEquals(before, first.requests.get(), "the open service got no share");

        Thread.sleep(1_100);
        runAllRowsBack(experts);
        assertEquals(before + 1, first.requests.get(), "one call probed it");
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker());
        assertEquals(1, experts.callsRetried(), "nothing failed after the first call");
    }

    @Test
    void aRefusalOfTheRequestItselfFailsTheStepWithoutTryingAnotherReplica() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        for (StandIn s : standIns) s.behaviour = Behaviour.REFUSE_PLACEMENT;
        RoutedBatch batch = batch();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch));
        assertTrue(e.getMessage().contains("refused layer " + LAYER + ": FAILED_PRECONDITION"), e.getMessage());
        assertEquals(0, experts.callsRetried());
        assertEquals(2, standIns.get(0).requests.get() + standIns.get(1).requests.get(),
                "each replica got its own share once, nothing was re-sent");
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker(), "the service is well");
    }

    @Test
    void notFoundIsResentToAnotherReplicaAndLeavesTheBreakerClosed() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        standIns.get(0).behaviour = Behaviour.REFUSE_NOT_HELD;
        runAllRowsBack(experts);
        assertEquals(1, experts.callsRetried());
        assertEquals(InstanceBreaker.State.CLOSED, experts.services().get(0).breaker(),
                "a stale placement says nothing against the service");
    }

    @Test
    void aProbeThatHangsIsAbandonedAtHalfTheTimeoutAndItsShareResent() throws Exception {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(4), Duration.ofMillis(100));
        StandIn first = standIns.get(0);
        first.behaviour = Behaviour.BREAK;
        experts.run(batch());
        first.behaviour = Behaviour.HANG;
        Thread.sleep(200);
        int before = first.requests.get();

        long tookMs = runAllRowsBack(experts);
        assertTrue(tookMs >= 1_900 && tookMs < 4_000, "abandoned after 2 s, not failed at 4 s: " + tookMs + " ms");
        assertEquals(before + 1, first.requests.get(), "the probe was one request");
        assertEquals(2, experts.callsRetried());
    }

    @Test
    void anExpertWhoseEveryReplicaFailedEndsTheStepNamingLayerExpertAndTheServicesTried() {
        RemoteExperts experts = replicas(2, Duration.ofSeconds(10), Duration.ofSeconds(30));
        for (StandIn s : standIns) s.behaviour = Behaviour.BREAK;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> experts.run(batch()));
        assertTrue(e.getMessage().matches("layer 1 expert \\d has no replica left to try: .*"), e.getMessage());
        for (StandIn s : standIns) {
            assertTrue(e.getMessage().contains("expert service " + s.address() + " failed on layer 1: UNAVAILABLE"),
                    e.getMessage());
        }
    }

    enum Behaviour { ECHO, BREAK, HANG, REFUSE_NOT_HELD, REFUSE_PLACEMENT }

    /** A loopback expert service that does what it is told with each request on its stream. */
    private static final class StandIn {
        volatile Behaviour behaviour = Behaviour.ECHO;
        final AtomicInteger requests = new AtomicInteger();
        final Server server;

        StandIn() {
            try {
                server = NettyServerBuilder.forAddress(new InetSocketAddress("localhost", 0)).addService(new Service())
                        .build().start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String address() {
            return "localhost:" + server.getPort();
        }

        private final class Service extends ExpertServiceGrpc.ExpertServiceImplBase {
            @Override
            public StreamObserver<RunExpertsRequest> runExpertsStream(StreamObserver<RunExpertsResponse> responses) {
                return new StreamObserver<>() {
                    @Override
                    public void onNext(RunExpertsRequest r) {
                        requests.incrementAndGet();
                        RunExpertsResponse.Builder answer = RunExpertsResponse.newBuilder().setSequence(r.getSequence());
                        switch (behaviour) {
                            case ECHO -> responses.onNext(answer.setOutputs(r.getHiddenStates()).build());
                            case BREAK -> responses.onError(Status.UNAVAILABLE.withDescription("stand-in went away")
                                    .asRuntimeException());
                            case HANG -> { }
                            case REFUSE_NOT_HELD -> responses.onNext(answer.setError(error(Status.Code.NOT_FOUND,
                                    "not held by this service; check the placement")).build());
                            case REFUSE_PLACEMENT -> responses.onNext(answer.setError(error(
                                    Status.Code.FAILED_PRECONDITION, "placement_version 1 is older than 2")).build());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {
                        responses.onCompleted();
                    }
                };
            }
        }

        private static RequestError error(Status.Code code, String message) {
            return RequestError.newBuilder().setCode(code.value()).setMessage(message).build();
        }
    }
}
