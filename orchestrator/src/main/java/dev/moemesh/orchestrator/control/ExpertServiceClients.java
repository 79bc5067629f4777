package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The control plane's calls to expert services: LoadExperts before a placement uses them, UnloadExperts after, and
 * Describe as a probe of one an attention service reports unreachable.
 */
final class ExpertServiceClients implements AutoCloseable {
    /** How long closing waits for the channels' calls to end. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final Set<ManagedChannel> probes = ConcurrentHashMap.newKeySet(); // one channel a probe in flight
    private final MeshChannels mesh;

    ExpertServiceClients(MeshChannels mesh) {
        this.mesh = mesh;
    }

    /** Asks the expert service at {@code address} to load {@code experts}; returns everything it holds afterwards. */
    Set<ExpertId> load(String address, Collection<ExpertId> experts, Duration timeout) {
        var answer = stub(address).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .loadExperts(LoadExpertsRequest.newBuilder().addAllExperts(toProto(experts)).build());
        return fromProto(answer.getHeldList());
    }

    /** Asks the expert service at {@code address} to drop {@code experts}; returns everything it holds afterwards. */
    Set<ExpertId> unload(String address, Collection<ExpertId> experts, Duration timeout) {
        var answer = stub(address).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .unloadExperts(UnloadExpertsRequest.newBuilder().addAllExperts(toProto(experts)).build());
        return fromProto(answer.getHeldList());
    }

    /**
     * Asks the expert service at {@code address} to describe itself within {@code timeout}: completes with null when
     * it answers, with why not when it does not.
     */
    CompletableFuture<Status> probe(String address, Duration timeout) {
        CompletableFuture<Status> done = new CompletableFuture<>();
        // on a channel of its own, not the one LoadExperts uses: forget() of that one (another instance registered at
        // this address left out after a failed load) would fail the probe and take a service that answers for dead;
        // and a new connection, not one backing off from earlier failures, is what says whether it answers now
        ManagedChannel channel = mesh.forTarget(address, MeshRole.EXPERT).build();
        probes.add(channel);
        done.whenComplete((answered, failure) -> {
            probes.remove(channel);
            channel.shutdownNow();
        });
        // in a context of its own: not cancelled with the call that asked for the probe (a report, answered at once)
        Context.ROOT.run(() -> ExpertServiceGrpc.newStub(channel)
                .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .describe(DescribeRequest.getDefaultInstance(), new StreamObserver<>() {
                    @Override
                    public void onNext(DescribeResponse value) {
                        done.complete(null);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(null);
                    }
                }));
        return done;
    }

    /** Closes the channel to an instance that left. */
    void forget(String address) {
        ManagedChannel c = channels.remove(address);
        if (c != null) c.shutdownNow();
    }

    private ExpertServiceGrpc.ExpertServiceBlockingStub stub(String address) {
        return ExpertServiceGrpc.newBlockingStub(channel(address));
    }

    private ManagedChannel channel(String address) {
        return channels.computeIfAbsent(address, a -> mesh.forTarget(a, MeshRole.EXPERT).build());
    }

    private static List<LayerExpert> toProto(Collection<ExpertId> experts) {
        return experts.stream().sorted()
                .map(e -> LayerExpert.newBuilder().setLayer(e.layer()).setExpert(e.expert()).build()).toList();
    }

    private static Set<ExpertId> fromProto(List<LayerExpert> experts) {
        TreeSet<ExpertId> held = new TreeSet<>();
        experts.forEach(e -> held.add(new ExpertId(e.getLayer(), e.getExpert())));
        return held;
    }

    @Override
    public void close() {
        List<ManagedChannel> all = new ArrayList<>(channels.values());
        all.addAll(probes);
        channels.clear();
        all.forEach(ManagedChannel::shutdownNow);
        // closed means closed: no call of this control plane still on its way to an expert service (a probe's
        // connection, new per probe, may still be opening)
        long end = System.nanoTime() + CLOSE_WAIT.toNanos();
        try {
            for (ManagedChannel c : all) c.awaitTermination(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
