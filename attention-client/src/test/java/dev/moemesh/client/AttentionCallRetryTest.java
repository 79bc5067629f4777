package dev.moemesh.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.Finish;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Context;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A generation the mesh fails runs again on another attention service, and its client sees one generation. The
 * attention services here are loopback stand-ins that fail on cue (a real one cannot be made to diverge or break off
 * at a chosen token); {@code KillUnderStreamsTest} in integration-tests kills real ones.
 */
class AttentionCallRetryTest {
    private static final GenerationRetry QUICK = new GenerationRetry(2, Duration.ofMillis(10), Duration.ofMillis(40),
            Duration.ofSeconds(30));
    private final List<Server> servers = new ArrayList<>();

    /** A stand-in attention service: each Generate call plays the next script (the last one again when out). */
    private final class StandIn extends AttentionServiceGrpc.AttentionServiceImplBase {
        final ConcurrentLinkedQueue<Consumer<StreamObserver<GenerateEvent>>> scripts = new ConcurrentLinkedQueue<>();
        final AtomicInteger calls = new AtomicInteger();
        final String address;
        Consumer<StreamObserver<GenerateEvent>> last;

        StandIn() throws Exception {
            Server server = NettyServerBuilder.forPort(0).addService(this).build().start();
            servers.add(server);
            address = "localhost:" + server.getPort();
        }

        @Override
        public synchronized void generate(GenerateRequest request, StreamObserver<GenerateEvent> events) {
            calls.incrementAndGet();
            Consumer<StreamObserver<GenerateEvent>> next = scripts.poll();
            if (next != null) last = next;
            last.accept(events);
        }
    }

    private static Consumer<StreamObserver<GenerateEvent>> tokensThen(int[] tokens, Status failure) {
        return events -> {
            for (int i = 0; i < tokens.length; i++) events.onNext(token(i, tokens[i]));
            if (failure == null) {
                Completion.Builder c = Completion.newBuilder().setFinish(Finish.FINISH_LENGTH).setFinishReason("length")
                        .setPromptTokens(3);
                for (int t : tokens) c.addTokenIds(t);
                events.onNext(GenerateEvent.newBuilder().setRequestId("r1").setCompleted(c).build());
                events.onCompleted();
            } else {
                events.onError(failure.asRuntimeException());
            }
        };
    }

    private static GenerateEvent token(int index, int id) {
        return GenerateEvent.newBuilder().setRequestId("r1")
                .setToken(TokenEvent.newBuilder().setIndex(index).setTokenId(id)).build();
    }

    /** What the listener heard: tokens by index, then one ending. */
    private static final class Heard implements GenerationListener {
        final List<String> tokens = new ArrayList<>();
        final CompletableFuture<String> ending = new CompletableFuture<>();
        final AtomicInteger endings = new AtomicInteger();
        final AtomicInteger ranAgain = new AtomicInteger();
        volatile Status status;
        volatile String message;

        @Override
        public synchronized void token(TokenEvent token) {
            tokens.add(token.getIndex() + ":" + token.getTokenId());
        }

        @Override
        public void completed(Completion completion, String attentionService) {
            endings.incrementAndGet();
            ending.complete("completed " + completion.getTokenIdsList() + " on " + attentionService);
        }

        @Override
        public void failed(Status status, String message) {
            endings.incrementAndGet();
            this.status = status;
            this.message = message;
            ending.complete("failed " + status.getCode());
        }

        @Override
        public void ranAgain(String why) {
            ranAgain.incrementAndGet();
        }

        String await() throws Exception {
            String e = ending.get(20, TimeUnit.SECONDS);
            Thread.sleep(100); // a second ending would come now
            assertEquals(1, endings.get(), "exactly one ending");
            return e;
        }
    }

    private static GenerateRequest request() {
        return GenerateRequest.newBuilder().setRequestId("r1").addPromptTokenIds(0).addPromptTokenIds(17)
                .addPromptTokenIds(42).setSampling(SamplingParams.newBuilder().setMaxTokens(5)).build();
    }

    @Test
    void aGenerationBrokenOffMidStreamGoesOnElsewhereAndTellsEachTokenOnce() throws Exception {
        StandIn a = new StandIn();
        StandIn b = new StandIn();
        int[] full = {5, 9, 2, 7, 1};
        AtomicInteger runs = new AtomicInteger();
        Consumer<StreamObserver<GenerateEvent>> firstBreaks = events -> (runs.getAndIncrement() == 0
                ? tokensThen(new int[] {5, 9, 2}, Status.UNAVAILABLE.withDescription("killed"))
                : tokensThen(full, null)).accept(events);
        a.scripts.add(firstBreaks);
        b.scripts.add(firstBreaks);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (AttentionPool pool = new AttentionPool(List.of(a.address, b.address), "test", QUICK)) {
            Heard heard = new Heard();
            // as the router wraps it: the meters inside the admission, each passing the run again on
            AttentionCall.start(pool, request(), new DoorAdmission(4, "test.max-in-flight", Duration.ofSeconds(1))
                    .admit(new DoorMeters(registry).observe("test", heard)));
            String ending = heard.await();
            assertTrue(ending.startsWith("completed [5, 9, 2, 7, 1]"), ending);
            assertEquals(List.of("0:5", "1:9", "2:2", "3:7", "4:1"), heard.tokens);
            assertEquals(1, a.calls.get(), "one run on each service: the second avoids the first");
            assertEquals(1, b.calls.get());
            assertEquals(1, heard.ranAgain.get());
            assertEquals(1.0, registry.get("moemesh.door.generation.runs.again").tag("door", "test").counter().count());
        }
    }

    @Test
    void aRequestRefusedForWhatItIsIsNeverRunAgain() throws Exception {
        StandIn a = new StandIn();
        a.scripts.add(tokensThen(new int[0], Status.INVALID_ARGUMENT.withDescription("token 900 outside")));
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.start(pool, request(), heard);
            assertEquals("failed INVALID_ARGUMENT", heard.await());
            assertEquals(1, a.calls.get());
        }
    }

    @Test
    void aRefusalForLoadBeforeAnyTokenIsLeftToTheDoor() throws Exception {
        StandIn a = new StandIn();
        a.scripts.add(tokensThen(new int[0], Status.RESOURCE_EXHAUSTED.withDescription("queue full")));
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.start(pool, request(), heard);
            assertEquals("failed RESOURCE_EXHAUSTED", heard.await());
            assertEquals(1, a.calls.get());
        }
    }

    @Test
    void aReplayThatDiffersFromWhatWasSentEndsLoudly() throws Exception {
        StandIn a = new StandIn();
        a.scripts.add(tokensThen(new int[] {5, 9}, Status.UNAVAILABLE));
        a.scripts.add(tokensThen(new int[] {5, 8, 2, 7, 1}, null));
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.start(pool, request(), heard);
            assertEquals("failed ABORTED", heard.await());
            assertEquals(List.of("0:5", "1:9"), heard.tokens, "nothing of the divergent replay is told");
            assertTrue(heard.message.contains("token 1 is 8, not the 9 already sent"), heard.message);
        }
    }

    @Test
    void runsStopWhenTheRetryBudgetIsSpentWithTheLastFailure() throws Exception {
        StandIn a = new StandIn();
        a.scripts.add(tokensThen(new int[] {5}, Status.UNAVAILABLE.withDescription("still down")));
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.start(pool, request(), heard);
            assertEquals("failed UNAVAILABLE", heard.await());
            assertEquals(3, a.calls.get(), "the first run and QUICK's two more");
            assertEquals(2, heard.ranAgain.get());
            assertEquals(List.of("0:5"), heard.tokens);
            assertTrue(heard.message.contains("still down"), heard.message);
        }
    }

    @Test
    void aGenerationTheMeshEndedWithAnErrorRunsAgainAndTheLastErrorIsToldAsItsCompletion() throws Exception {
        StandIn a = new StandIn();
        a.scripts.add(events -> {
            events.onNext(GenerateEvent.newBuilder().setRequestId("r1").setCompleted(Completion.newBuilder()
                    .setFinish(Finish.FINISH_ERROR).setFinishReason("error").setErrorMessage("layer 1 expert 5 has no"
                            + " replica left")).build());
            events.onCompleted();
        });
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.start(pool, request(), heard);
            assertTrue(heard.await().startsWith("completed []"));
            assertEquals(3, a.calls.get());
        }
    }

    @Test
    void aCancelledGrpcContextLeftOnTheCallingThreadDoesNotCancelTheGeneration() throws Exception {
        // what a Vert.x event loop may hold after an earlier gRPC call finished (quarkusio/quarkus#55480)
        StandIn a = new StandIn();
        a.scripts.add(tokensThen(new int[] {5, 9, 2}, null));
        Context.CancellableContext stale = Context.ROOT.withCancellation();
        stale.cancel(null);
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            Context previous = stale.attach();
            try {
                AttentionCall.start(pool, request(), heard);
            } finally {
                stale.detach(previous);
            }
            assertTrue(heard.await().startsWith("completed [5, 9, 2]"), heard.message);
        }
    }

    @Test
    void aGenerationStartedInADoorsCallIsCancelledWithIt() throws Exception {
        StandIn a = new StandIn();
        CompletableFuture<StreamObserver<GenerateEvent>> held = new CompletableFuture<>();
        a.scripts.add(events -> {
            events.onNext(token(0, 5));
            held.complete(events); // and never ends
        });
        Context.CancellableContext doorCall = Context.ROOT.withCancellation();
        try (AttentionPool pool = new AttentionPool(List.of(a.address), "test", QUICK)) {
            Heard heard = new Heard();
            AttentionCall.startIn(doorCall, pool, request(), heard);
            held.get(20, TimeUnit.SECONDS);
            doorCall.cancel(null);
            assertEquals("failed CANCELLED", heard.await());
            assertEquals(1, a.calls.get(), "a cancel is not run again");
        }
    }

    @AfterEach
    void stop() {
        servers.forEach(Server::shutdownNow);
    }
}
