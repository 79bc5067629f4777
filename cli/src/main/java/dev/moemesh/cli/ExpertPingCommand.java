package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import dev.moemesh.tls.MeshTls;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code mesh expert-ping}: the round trip of expert services' persistent streams, one call at a time, and the
 * services' own compute and queue times: what the transport costs, apart from the experts. With {@code --top-k},
 * each call is one MoE layer's routed batch as an attention service sends it: {@code --rows} tokens, each routed to
 * {@code --top-k} distinct experts of a random layer, every service holding some of them sent its share at once,
 * the call done when the last answer is back; nothing else computes meanwhile.
 */
@Command(name = "expert-ping", mixinStandardHelpOptions = true,
        description = "Measure the round trip of RunExpertsStream requests to expert services, one call at a time.")
final class ExpertPingCommand implements Callable<Integer> {

    @Option(names = "--target", required = true, split = ",", description = "HOST:PORT of an expert service;"
            + " with --top-k several, comma-separated (each expert goes to the first one holding it)")
    List<String> targets;

    @Option(names = "--rows", defaultValue = "0", description = "token rows per call: without --top-k all for the"
            + " first expert the service holds, 0 sending an empty request; with it, tokens (default ${DEFAULT-VALUE})")
    int rows;

    @Option(names = "--top-k", defaultValue = "0", description = "route each token to this many distinct experts of"
            + " one random MoE layer, as an attention service does (default: off)")
    int topK;

    // a few thousand calls leave the JIT unfinished: 3000 (1000 to warm up) measured ~220 us empty round trips where
    // 20000 measure ~70-110 us on the same idle 2-core machine
    @Option(names = "--calls", defaultValue = "20000", description = "calls; the first third warm up (default ${DEFAULT-VALUE})")
    int calls;

    @Option(names = "--key-store", description = "PKCS12 key store of an attention certificate: calls over mutual TLS"
            + " (with --trust-store), e.g. <mesh home>/tls/attention-service.p12 of `mesh up --tls`")
    Path keyStore;

    @Option(names = "--trust-store", description = "PKCS12 trust store of the mesh CA, e.g. <mesh home>/tls/ca.p12")
    Path trustStore;

    @Option(names = "--store-password", defaultValue = "moemesh-local",
            description = "of both stores (default ${DEFAULT-VALUE}, as `mesh up --tls` writes them)")
    String storePassword;

    /** One answer as it arrived: from which target, when, and what the service said of its time. */
    private record Arrival(int target, long nanos, long computeNanos, long queueNanos, boolean refused, Throwable failure) {}

    @Override
    public Integer call() throws InterruptedException {
        if (rows < 0 || calls < 3 || topK < 0) {
            throw new IllegalArgumentException("--rows and --top-k must be >= 0 and --calls >= 3");
        }
        if (topK == 0 && targets.size() != 1) throw new IllegalArgumentException("several targets need --top-k");
        if (topK > 0 && rows == 0) throw new IllegalArgumentException("--top-k routes --rows tokens: give --rows >= 1");
        if ((keyStore == null) != (trustStore == null)) {
            throw new IllegalArgumentException("--key-store and --trust-store go together");
        }
        MeshChannels mesh = keyStore == null ? MeshChannels.PLAINTEXT : MeshChannels.tls(MeshTls.pkcs12(keyStore,
                storePassword.toCharArray(), trustStore, storePassword.toCharArray()));
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            List<DescribeResponse> described = new ArrayList<>();
            for (String target : targets) {
                ManagedChannel channel = mesh.forTarget(target, MeshRole.EXPERT).directExecutor().build();
                channels.add(channel);
                described.add(describe(target, channel));
            }
            String fingerprint = described.getFirst().getModelFingerprint();
            int hidden = described.getFirst().getHidden();
            for (int t = 1; t < targets.size(); t++) {
                if (!described.get(t).getModelFingerprint().equals(fingerprint)) {
                    throw new IllegalArgumentException(targets.get(t) + " serves model "
                            + described.get(t).getModelFingerprint() + " but " + targets.getFirst() + " " + fingerprint);
                }
            }
            Calls plan = topK == 0 ? singleExpert(described.getFirst(), fingerprint, hidden)
                    : routedLayers(described, fingerprint, hidden);

            BlockingQueue<Arrival> answers = new LinkedBlockingQueue<>();
            List<StreamObserver<RunExpertsRequest>> streams = new ArrayList<>();
            for (int t = 0; t < channels.size(); t++) streams.add(open(channels.get(t), t, answers));

            long[] roundTrip = new long[calls];
            long[] overhead = new long[calls];
            long[] send = new long[calls];
            long[] compute = new long[calls];
            long[] queue = new long[calls];
            for (int i = 0; i < calls; i++) {
                RunExpertsRequest[] requests = plan.next(i); // by target, null: nothing for it this call
                long sent = System.nanoTime();
                int expected = 0;
                for (int t = 0; t < requests.length; t++) {
                    if (requests[t] == null) continue;
                    streams.get(t).onNext(requests[t]);
                    expected++;
                }
                long handed = System.nanoTime();
                Arrival last = null;
                for (int got = 0; got < expected; got++) {
                    Arrival a = answers.poll(30, TimeUnit.SECONDS);
                    if (a == null) throw new IllegalStateException("no answer within 30 s from " + targets);
                    if (a.failure() != null) {
                        throw new IllegalStateException(targets.get(a.target()) + ": " + a.failure().getMessage(), a.failure());
                    }
                    if (a.refused()) throw new IllegalStateException(targets.get(a.target()) + " refused the request");
                    if (last == null || a.nanos() - last.nanos() >= 0) last = a;
                }
                roundTrip[i] = last.nanos() - sent;
                overhead[i] = Math.max(0, roundTrip[i] - last.computeNanos());
                send[i] = handed - sent;
                compute[i] = last.computeNanos();
                queue[i] = last.queueNanos();
            }
            streams.forEach(StreamObserver::onCompleted);

            ObjectNode out = new ObjectMapper().createObjectNode();
            out.put("targets", targets.size()).put("transport", mesh.toString()).put("rows", rows).put("top_k", topK).put("hidden", hidden)
                    .put("backend", described.getFirst().getBackend());
            out.put("round_trip_p50_us", p(roundTrip, 50)).put("round_trip_p90_us", p(roundTrip, 90))
                    .put("compute_p50_us", p(compute, 50)).put("overhead_p50_us", p(overhead, 50))
                    .put("overhead_p90_us", p(overhead, 90)).put("send_p50_us", p(send, 50))
                    .put("queue_p50_us", p(queue, 50));
            System.out.println(out);
            return 0;
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
        }
    }

    /** The requests of call {@code i}, by target. */
    @FunctionalInterface
    private interface Calls {
        RunExpertsRequest[] next(int i);
    }

    /** Every call: {@code --rows} rows (or none) for the first expert the one target holds. */
    private Calls singleExpert(DescribeResponse d, String fingerprint, int hidden) {
        if (rows > 0 && d.getHeldCount() == 0) throw new IllegalArgumentException(targets.getFirst() + " holds no experts");
        LayerExpert first = rows > 0 ? d.getHeld(0) : LayerExpert.getDefaultInstance();
        RunExpertsRequest.Builder request = RunExpertsRequest.newBuilder().setModelFingerprint(fingerprint)
                .setLayer(first.getLayer()).setHidden(hidden);
        if (rows > 0) {
            request.addExpertIds(first.getExpert()).addGroupSizes(rows)
                    .setHiddenStates(ByteString.copyFrom(new byte[rows * hidden * 2]));
        }
        return i -> new RunExpertsRequest[] {request.setSequence(i).build()};
    }

    /**
     * Every call: a random MoE layer among those where the targets hold at least {@code --top-k} experts, each of
     * {@code --rows} tokens routed to {@code --top-k} distinct ones of them, grouped by expert, each group sent to the
     * first target holding its expert. Fixed seed, so runs compare.
     */
    private Calls routedLayers(List<DescribeResponse> described, String fingerprint, int hidden) {
        Map<Integer, Map<Integer, Integer>> holder = new TreeMap<>(); // layer -> expert -> first target holding it
        for (int t = 0; t < described.size(); t++) {
            for (LayerExpert e : described.get(t).getHeldList()) {
                holder.computeIfAbsent(e.getLayer(), l -> new TreeMap<>()).putIfAbsent(e.getExpert(), t);
            }
        }
        List<Integer> layers = holder.entrySet().stream().filter(e -> e.getValue().size() >= topK)
                .map(Map.Entry::getKey).toList();
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("no layer has " + topK + " experts held by " + targets);
        }
        SplittableRandom random = new SplittableRandom(42);
        long[] sequence = new long[described.size()];
        return i -> {
            int layer = layers.get(random.nextInt(layers.size()));
            Map<Integer, Integer> held = holder.get(layer);
            Integer[] experts = held.keySet().toArray(new Integer[0]);
            Map<Integer, Integer> rowsPerExpert = new LinkedHashMap<>();
            for (int token = 0; token < rows; token++) {
                // a partial shuffle: the first top-k of a random permutation, distinct by construction
                for (int k = 0; k < topK; k++) {
                    int j = k + random.nextInt(experts.length - k);
                    Integer swap = experts[k];
                    experts[k] = experts[j];
                    experts[j] = swap;
                    rowsPerExpert.merge(experts[k], 1, Integer::sum);
                }
            }
            RunExpertsRequest.Builder[] builders = new RunExpertsRequest.Builder[described.size()];
            int[] rowsPerTarget = new int[described.size()];
            rowsPerExpert.forEach((expert, n) -> {
                int t = held.get(expert);
                if (builders[t] == null) {
                    builders[t] = RunExpertsRequest.newBuilder().setModelFingerprint(fingerprint).setLayer(layer)
                            .setHidden(hidden).setSequence(sequence[t]++);
                }
                builders[t].addExpertIds(expert).addGroupSizes(n);
                rowsPerTarget[t] += n;
            });
            RunExpertsRequest[] requests = new RunExpertsRequest[builders.length];
            for (int t = 0; t < builders.length; t++) {
                if (builders[t] == null) continue;
                requests[t] = builders[t].setHiddenStates(ByteString.copyFrom(new byte[rowsPerTarget[t] * hidden * 2]))
                        .build();
            }
            return requests;
        };
    }

    private static DescribeResponse describe(String target, ManagedChannel channel) {
        try {
            return ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .describe(DescribeRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            throw new IllegalStateException("expert service " + target + ": " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : ": " + e.getStatus().getDescription()), e);
        }
    }

    private static StreamObserver<RunExpertsRequest> open(ManagedChannel channel, int target,
                                                          BlockingQueue<Arrival> answers) {
        return ExpertServiceGrpc.newStub(channel).runExpertsStream(new StreamObserver<>() {
            @Override
            public void onNext(RunExpertsResponse r) {
                answers.add(new Arrival(target, System.nanoTime(), r.getComputeNanos(), r.getQueueNanos(), r.hasError(),
                        null));
            }

            @Override
            public void onError(Throwable t) {
                answers.add(new Arrival(target, System.nanoTime(), 0, 0, false, t));
            }

            @Override
            public void onCompleted() {}
        });
    }

    /** The percentile of the measured calls (the first third warmed up), in microseconds. */
    private long p(long[] nanos, int percentile) {
        long[] measured = Arrays.copyOfRange(nanos, calls / 3, calls);
        Arrays.sort(measured);
        return measured[Math.min(measured.length - 1, measured.length * percentile / 100)] / 1000;
    }
}
