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
 * fed {@code batch} concurrent generations; also the expert-call latency the attention service measured.
 */
final class MeshBench {
    private final Path model;
    private final int expertServices;
    private final List<String> expertJavaOpts;
    private final List<String> attentionJavaOpts;
    private final int promptTokens;
    private final int decodeTokens;
    private final int repeat;

    MeshBench(Path model, int expertServices, String expertJavaOpts, String attentionJavaOpts, int promptTokens,
              int decodeTokens, int repeat) {
        this.model = model;
        this.expertServices = expertServices;
        this.expertJavaOpts = options(expertJavaOpts);
        this.attentionJavaOpts = options(attentionJavaOpts);
        this.promptTokens = promptTokens;
        this.decodeTokens = decodeTokens;
        this.repeat = repeat;
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
            List<String> engine = List.of("-Dattention.max-batch-tokens=" + Math.max(256, maxBatch),
                    "-Dattention.max-sequences=" + maxBatch);
            // both attention services up at once (an idle one costs nothing), measured in turn at each batch size
            LocalMesh.Service[] attention = new LocalMesh.Service[3];
            for (int microBatches : new int[] {1, 2}) {
                List<String> props = new ArrayList<>(attentionJavaOpts);
                props.addAll(engine);
                props.add("-Dattention.micro-batches=" + microBatches);
                attention[microBatches] = mesh.startAttentionService("bench-attention-mb" + microBatches, model,
                        addresses, LocalMesh.freePort(), props, Duration.ofMinutes(5));
            }
            System.err.printf("mesh: %d expert services; attention services %s (1 micro-batch), %s (2)%n",
                    expertServices, attention[1].address(), attention[2].address());
            for (int b : batches) {
                for (int microBatches : new int[] {1, 2}) measure(attention[microBatches], microBatches, b, out);
            }
        }
    }

    private void measure(LocalMesh.Service attention, int microBatches, int b, ObjectNode out) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
        try {
            var stub = AttentionServiceGrpc.newStub(channel);
            var blocking = AttentionServiceGrpc.newBlockingStub(channel);
            {
                decode(stub, b, Math.min(decodeTokens, 8)); // warm-up
                double best = 0;
                AttentionStats latency = null;
                for (int i = 0; i < repeat; i++) {
                    blocking.getAttentionStats(GetAttentionStatsRequest.newBuilder().setResetLatencies(true).build());
                    double tps = decode(stub, b, decodeTokens);
                    AttentionStats s = blocking.getAttentionStats(GetAttentionStatsRequest.getDefaultInstance());
                    if (tps > best) {
                        best = tps;
                        latency = s;
                    }
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
            }
        } finally {
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
