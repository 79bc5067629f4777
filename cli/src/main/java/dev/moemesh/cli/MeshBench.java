package dev.moemesh.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.AttentionStats;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.proto.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Decode throughput through a local mesh: an attention service and N expert services as processes on loopback,
 * fed {@code batch} concurrent generations; also the expert-call latency the attention service measured. With
 * speculative tokens, an attention service drafting with the MTP module runs beside each plain one on the same expert
 * services, measured run by run in turn with it, and its speed-up and acceptance are reported too.
 */
final class MeshBench {
    private final Path model;
    private final int expertServices;
    private final List<String> expertJavaOpts;
    private final List<String> attentionJavaOpts;
    private final int promptTokens;
    private final int decodeTokens;
    private final int repeat;
    private final int speculativeTokens;
    private final double speculativeMinAcceptance;
    private final int speculativeMaxBatch;

    MeshBench(Path model, int expertServices, String expertJavaOpts, String attentionJavaOpts, int promptTokens,
              int decodeTokens, int repeat, int speculativeTokens, double speculativeMinAcceptance,
              int speculativeMaxBatch) {
        this.model = model;
        this.expertServices = expertServices;
        this.expertJavaOpts = options(expertJavaOpts);
        this.attentionJavaOpts = options(attentionJavaOpts);
        this.promptTokens = promptTokens;
        this.decodeTokens = decodeTokens;
        this.repeat = repeat;
        this.speculativeTokens = speculativeTokens;
        this.speculativeMinAcceptance = speculativeMinAcceptance;
        this.speculativeMaxBatch = speculativeMaxBatch;
    }

    private static List<String> options(String line) {
        return line.isBlank() ? List.of() : List.of(line.strip().split("\\s+"));
    }

    void run(int[] batches, ObjectNode out) {
        int experts = ModelConfig.load(model).nRoutedExperts();
        int maxBatch = 64;
        for (int b : batches) maxBatch = Math.max(maxBatch, b);
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve(".mesh/logs/bench"), List.of())) {
            List<String> addresses = new ArrayList<>();
            for (int i = 0; i < expertServices; i++) {
                String slice = LocalMesh.slice(i, expertServices, experts);
                addresses.add(mesh.startExpertService("bench-experts-" + (i + 1), model, slice, LocalMesh.freePort(),
                        expertJavaOpts, Duration.ofMinutes(5)).address());
            }
            List<String> engine = List.of(
                    "-Dattention.max-batch-tokens=" + Math.max(256, maxBatch * (1 + speculativeTokens)),
                    "-Dattention.max-sequences=" + maxBatch);
            // every attention service up at once (an idle one costs nothing), measured in turn at each batch size
            LocalMesh.Service[] attention = new LocalMesh.Service[3];
            LocalMesh.Service[] speculating = new LocalMesh.Service[3];
            for (int microBatches : new int[] {1, 2}) {
                List<String> props = new ArrayList<>(attentionJavaOpts);
                props.addAll(engine);
                props.add("-Dattention.micro-batches=" + microBatches);
                attention[microBatches] = mesh.startAttentionService("bench-attention-mb" + microBatches, model,
                        addresses, LocalMesh.freePort(), props, Duration.ofMinutes(5));
                if (speculativeTokens > 0) {
                    props.add("-Dattention.speculative-tokens=" + speculativeTokens);
                    props.add("-Dattention.speculative-min-acceptance=" + speculativeMinAcceptance);
                    props.add("-Dattention.speculative-max-batch=" + speculativeMaxBatch);
                    speculating[microBatches] = mesh.startAttentionService("bench-attention-mb" + microBatches
                            + "-speculative", model, addresses, LocalMesh.freePort(), props, Duration.ofMinutes(5));
                }
            }
            System.err.printf("mesh: %d expert services; attention services %s (1 micro-batch), %s (2)%s%n",
                    expertServices, attention[1].address(), attention[2].address(), speculativeTokens == 0 ? ""
                            : "; drafting " + speculativeTokens + ": " + speculating[1].address() + " (1), "
                            + speculating[2].address() + " (2)");
            for (int b : batches) {
                for (int microBatches : new int[] {1, 2}) {
                    measure(attention[microBatches], speculating[microBatches], microBatches, b, out);
                }
            }
        }
    }

    /** Plain decoding on {@code attention} and, when given, speculative on {@code speculating}, run by run in turn. */
    private void measure(LocalMesh.Service attention, LocalMesh.Service speculating, int microBatches, int b,
                         ObjectNode out) {
        try (Stub plain = new Stub(attention); Stub drafting = speculating == null ? null : new Stub(speculating)) {
            plain.decode(b, Math.min(decodeTokens, 8)); // warm-up
            if (drafting != null) drafting.decode(b, Math.min(decodeTokens, 8));
            double best = 0, bestSpeculative = 0;
            AttentionStats latency = null;
            AttentionStats before = drafting == null ? null : drafting.stats(false);
            for (int i = 0; i < repeat; i++) {
                plain.stats(true);
                double tps = plain.decode(b, decodeTokens);
                AttentionStats s = plain.stats(false);
                if (tps > best) {
                    best = tps;
                    latency = s;
                }
                if (drafting != null) bestSpeculative = Math.max(bestSpeculative, drafting.decode(b, decodeTokens));
            }
            String key = "mesh_" + expertServices + "_mb" + microBatches + "_decode_batch_" + b;
            out.put(key + "_tokens_per_s", Math.round(best * 10) / 10.0);
            out.put(key + "_expert_round_trip_p50_us", latency.getExpertRoundTripP50Nanos() / 1000);
            out.put(key + "_expert_overhead_p50_us", latency.getExpertOverheadP50Nanos() / 1000);
            out.put(key + "_expert_overhead_p99_us", latency.getExpertOverheadP99Nanos() / 1000);
            out.put(key + "_expert_send_p50_us", latency.getExpertSendP50Nanos() / 1000);
            out.put(key + "_expert_queue_p50_us", latency.getExpertQueueP50Nanos() / 1000);
            out.put(key + "_expert_transport_p50_us", latency.getExpertTransportP50Nanos() / 1000);
            System.err.printf("mesh (%d micro-batch%s) decode batch %d: %.1f tok/s aggregate; per MoE layer call:"
                            + " round trip p50 %d us, overhead (round trip - expert compute) p50 %d us, p99 %d us;"
                            + " of the overhead p50: send %d us, queue in the expert service %d us, transport %d us%n",
                    microBatches, microBatches == 1 ? "" : "es", b, best,
                    latency.getExpertRoundTripP50Nanos() / 1000, latency.getExpertOverheadP50Nanos() / 1000,
                    latency.getExpertOverheadP99Nanos() / 1000, latency.getExpertSendP50Nanos() / 1000,
                    latency.getExpertQueueP50Nanos() / 1000, latency.getExpertTransportP50Nanos() / 1000);
            if (drafting != null) {
                AttentionStats after = drafting.stats(false);
                long drafted = after.getSpeculativeDrafted() - before.getSpeculativeDrafted();
                long accepted = after.getSpeculativeAccepted() - before.getSpeculativeAccepted();
                long steps = after.getDecodeSteps() - before.getDecodeSteps();
                double acceptance = drafted == 0 ? 0 : (double) accepted / drafted;
                double perStep = steps == 0 ? 0 : (double) (steps + accepted) / steps;
                out.put(key + "_speculative_tokens_per_s", Math.round(bestSpeculative * 10) / 10.0);
                out.put(key + "_speculative_speedup", Math.round(bestSpeculative / best * 100) / 100.0);
                out.put(key + "_speculative_acceptance_rate", Math.round(acceptance * 1000) / 1000.0);
                out.put(key + "_speculative_tokens_per_step", Math.round(perStep * 100) / 100.0);
                out.put(key + "_speculative_drafted", drafted);
                System.err.printf("mesh (%d micro-batch%s) decode batch %d, %d speculative token(s): %.1f tok/s"
                                + " aggregate (x%.2f), %s, %.2f tokens per step%n", microBatches,
                        microBatches == 1 ? "" : "es", b, speculativeTokens, bestSpeculative, bestSpeculative / best,
                        BenchCommand.acceptance(drafted, acceptance), perStep);
            }
        }
    }

    /** A channel to one attention service. */
    private final class Stub implements AutoCloseable {
        private final ManagedChannel channel;
        private final AttentionServiceGrpc.AttentionServiceStub async;
        private final AttentionServiceGrpc.AttentionServiceBlockingStub blocking;

        Stub(LocalMesh.Service attention) {
            channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
            async = AttentionServiceGrpc.newStub(channel);
            blocking = AttentionServiceGrpc.newBlockingStub(channel);
        }

        AttentionStats stats(boolean resetLatencies) {
            return blocking.getAttentionStats(GetAttentionStatsRequest.newBuilder().setResetLatencies(resetLatencies)
                    .build());
        }

        double decode(int batch, int tokens) {
            return MeshBench.this.decode(async, batch, tokens);
        }

        @Override
        public void close() {
            channel.shutdownNow();
        }
    }

    /** Aggregate tokens per second once all {@code batch} generations have their first token, as the local bench. */
    private double decode(AttentionServiceGrpc.AttentionServiceStub stub, int batch, int tokens) {
        AtomicInteger produced = new AtomicInteger();
        AtomicInteger started = new AtomicInteger();
        AtomicLong allStarted = new AtomicLong();
        AtomicInteger atStart = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(batch);
        List<String> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int i = 0; i < batch; i++) {
            GenerateRequest.Builder r = GenerateRequest.newBuilder().setRequestId("bench-" + System.nanoTime() + "-" + i)
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(tokens).setIgnoreEos(true));
            for (int t : BenchCommand.prompt(promptTokens, 100 + i)) r.addPromptTokenIds(t);
            stub.generate(r.build(), new StreamObserver<>() {
                boolean first = true;

                @Override
                public void onNext(GenerateEvent e) {
                    if (!e.hasToken()) {
                        if (!e.getCompleted().getErrorMessage().isEmpty()) errors.add(e.getCompleted().getErrorMessage());
                        return;
                    }
                    int n = produced.incrementAndGet();
                    if (first) {
                        first = false;
                        if (started.incrementAndGet() == batch) {
                            allStarted.set(System.nanoTime());
                            atStart.set(n);
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                    errors.add(t.toString());
                    done.countDown();
                }

                @Override
                public void onCompleted() {
                    done.countDown();
                }
            });
        }
        try {
            if (!done.await(10, TimeUnit.MINUTES)) throw new IllegalStateException("mesh bench: no end in 10 minutes");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
        if (!errors.isEmpty()) throw new IllegalStateException("mesh bench: " + errors.get(0));
        long elapsed = System.nanoTime() - allStarted.get();
        return (produced.get() - atStart.get()) / (elapsed / 1e9);
    }
}
