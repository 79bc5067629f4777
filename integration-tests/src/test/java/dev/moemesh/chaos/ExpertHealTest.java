package dev.moemesh.chaos;

import static dev.moemesh.router.LocalEngineReference.MODEL;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.testing.Prometheus;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The attention service heals instead of failing: the only replica of half the routed experts (min-replicas 1) is
 * SIGKILLed while generations run, called on the attention service itself (no door that could run them again). The
 * sequences routed to the dead service's experts are set aside (the others go on); the attention service reports the
 * broken stream to the control
 * plane at once, the control plane re-places those experts on the survivor, and every generation completes with the
 * single-process engine's greedy tokens, each index once. Then the survivor is killed too: no service is left to take
 * the experts, and past {@code attention.expert-heal-timeout} the generations end with the error, naming the expert
 * and the timeout. Real processes throughout.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ExpertHealTest {
    private static final List<String> JVM = List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final int MAX_TOKENS = 32;
    private static final int GENERATIONS = 8;
    private static final Duration HEAL_TIMEOUT = Duration.ofSeconds(15);

    @Test
    void killingTheOnlyReplicaOfHalfTheExpertsCostsNoGenerationAndPastTheHealTimeoutTheyEndWithTheError()
            throws Exception {
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), logs(), JVM)) {
            SingleReplicaMesh halves = SingleReplicaMesh.start(mesh, "heal",
                    List.of("-Dattention.expert-heal-timeout=" + HEAL_TIMEOUT.toSeconds() + "s"));
            LocalMesh.Service attention = halves.attention();
            ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
            try {
                List<Stream> streams = new ArrayList<>();
                for (int i = 0; i < GENERATIONS; i++) streams.add(Stream.start(channel, "heal-" + i, 3 + i, 11, 7 + 2 * i, 1));
                awaitTokensFromEach(streams);
                halves.high().kill();
                for (Stream s : streams) {
                    Stream.Outcome done = s.outcome.get(3, TimeUnit.MINUTES);
                    assertEquals("length", done.finish(), s.id + ": " + done.error());
                    assertEquals(Arrays.stream(greedyTokens(s.prompt, MAX_TOKENS)).boxed().toList(), done.tokens(),
                            s.id + ": the single-process engine's tokens, each index once");
                    assertEquals(done.tokens(), done.completed(), s.id + ": the completion repeats the streamed tokens");
                }
                String attentionLog = Files.readString(attention.log());
                assertTrue(attentionLog.contains("healed: layer "), "the attention service logged the heal");
                assertTrue(Files.readString(halves.orchestrator().log()).contains("taken for dead: '"),
                        "the control plane acted on the attention service's report");
                assertTrue(metric(attention, "moemesh_attention_expert_heals_total", "healed") >= 1,
                        "the heal is counted");
                assertEquals(0, metric(attention, "moemesh_attention_expert_heals_total", "timed_out"));
                System.out.println("heal waits (ms) in " + attention.log() + ": " + healWaits(attentionLog));

                // no service is left to take the experts: past the heal timeout, the rows end with the error
                halves.low().kill();
                long killed = System.nanoTime();
                List<Stream> doomed = List.of(Stream.start(channel, "unhealed-0", 5, 6, 7),
                        Stream.start(channel, "unhealed-1", 9, 8));
                String expertError = "layer \\d+ expert \\d+ (has no replica left to try: .*|is held by no expert"
                        + " service \\(placement version \\d+\\))";
                String timedOut = "; no placement served it within " + HEAL_TIMEOUT.toMillis()
                        + " ms \\(attention.expert-heal-timeout\\)";
                String notWaiting = "; not waiting: a heal under placement version \\d+ timed out, and no newer"
                        + " placement has come";
                int timeouts = 0;
                for (Stream s : doomed) {
                    Stream.Outcome done = s.outcome.get(3, TimeUnit.MINUTES);
                    long afterMs = (System.nanoTime() - killed) / 1_000_000;
                    assertEquals("error", done.finish(), s.id);
                    // the first to wait waits the whole timeout; one that tries again after it does not wait again
                    assertTrue(done.error().matches(expertError + "(" + timedOut + "|" + notWaiting + ")"), done.error());
                    if (done.error().matches(expertError + timedOut)) timeouts++;
                    assertTrue(afterMs >= HEAL_TIMEOUT.toMillis(), "ended only past the heal timeout: " + afterMs + " ms");
                }
                assertTrue(timeouts >= 1, "the first waited the heal timeout");
                // under the same placement, a later generation ends at once rather than wait another timeout
                long sent = System.nanoTime();
                Stream.Outcome later = Stream.start(channel, "unhealed-2", 4, 4).outcome.get(3, TimeUnit.MINUTES);
                long laterMs = (System.nanoTime() - sent) / 1_000_000;
                assertEquals("error", later.finish());
                assertTrue(later.error().matches(expertError + notWaiting), later.error());
                assertTrue(laterMs < HEAL_TIMEOUT.toMillis(), "no second wait: " + laterMs + " ms");
                AttentionStats stats = AttentionServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
                assertEquals(0, stats.getRunningSequences(), "the failed generations hold no sequence");
                assertEquals(0, stats.getParkedSequences(), "none is left waiting");
                assertEquals(0, stats.getKvBlocksUsed(), "nor KV blocks");
                // a heal is a sequence's: one timed out for each generation that ended with the timeout
                assertEquals(timeouts, metric(attention, "moemesh_attention_expert_heals_total", "timed_out"));
                assertTrue(Files.readString(attention.log()).contains("not healed: layer "));
            } finally {
                channel.shutdownNow();
            }
        }
    }

    private static Path logs() {
        return LocalMesh.home().resolve("integration-tests/target/mesh-test-logs");
    }

    static void awaitTokensFromEach(List<Stream> streams) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (streams.stream().anyMatch(s -> s.heard.get() == 0) && System.nanoTime() < deadline) Thread.sleep(10);
        assertTrue(streams.stream().allMatch(s -> s.heard.get() > 0), "every generation started");
    }

    /** The value of one Prometheus counter of the attention service, by its outcome tag. */
    private static double metric(LocalMesh.Service attention, String name, String outcome) throws Exception {
        return metric(attention, name + "{outcome=\"" + outcome + "\"}");
    }

    /** The value of one series ({@code name} or {@code name{tags}}, as Prometheus writes it) of a service. */
    static double metric(LocalMesh.Service service, String series) {
        return Prometheus.sample(service.httpPort(), series);
    }

    private static List<Long> healWaits(String log) {
        return Pattern.compile("healed: layer \\d+ expert \\d+ served again under placement version \\d+ after (\\d+) ms")
                .matcher(log).results().map(r -> Long.parseLong(r.group(1))).toList();
    }

    /** One streamed Generate on the attention service: its tokens by index (checked in order, once) and its end. */
    static final class Stream {
        record Outcome(String finish, String error, List<Integer> tokens, List<Integer> completed) {}

        final String id;
        final int[] prompt;
        final AtomicInteger heard = new AtomicInteger();
        final CompletableFuture<Outcome> outcome;

        private Stream(ManagedChannel channel, String id, int[] prompt) {
            this.id = id;
            this.prompt = prompt;
            GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(id).setSampling(
                    SamplingParams.newBuilder().setMaxTokens(MAX_TOKENS).setIgnoreEos(true));
            for (int t : prompt) request.addPromptTokenIds(t);
            this.outcome = CompletableFuture.supplyAsync(() -> {
                List<Integer> tokens = new ArrayList<>();
                for (Iterator<GenerateEvent> it = AttentionServiceGrpc.newBlockingStub(channel)
                        .generate(request.build()); it.hasNext(); ) {
                    GenerateEvent e = it.next();
                    if (e.hasToken()) {
                        assertEquals(tokens.size(), e.getToken().getIndex(), id + ": token indices in order, once");
                        tokens.add(e.getToken().getTokenId());
                        heard.incrementAndGet();
                    } else {
                        return new Outcome(e.getCompleted().getFinishReason(), e.getCompleted().getErrorMessage(),
                                tokens, e.getCompleted().getTokenIdsList());
                    }
                }
                throw new AssertionError(id + ": the stream ended without a completion");
            });
        }

        static Stream start(ManagedChannel channel, String id, int... prompt) {
            return new Stream(channel, id, prompt);
        }
    }
}
