package dev.moemesh.testing;

import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The placements of a {@code WatchPlacement} stream as an observer of the mesh sees them, in arrival order; each
 * must be a newer version than the one before.
 */
public final class PlacementWatcher implements StreamObserver<Placement>, AutoCloseable {
    private final LinkedBlockingQueue<Object> arrived = new LinkedBlockingQueue<>();
    private final List<Placement> seen = new ArrayList<>();
    private final Duration wait;
    private final ManagedChannel own; // null when the caller's channel carries the watch

    private PlacementWatcher(Duration wait, ManagedChannel own) {
        this.wait = wait;
        this.own = own;
    }

    /** Watches over {@code channel} as {@code instanceId}; {@link #next} and {@link #await} wait up to {@code wait}. */
    public static PlacementWatcher watch(Channel channel, String instanceId, String fingerprint, Duration wait) {
        return start(channel, instanceId, fingerprint, new PlacementWatcher(wait, null));
    }

    /** As {@link #watch}, over a channel of its own to {@code controlPlane} ({@code host:port}), closed with it. */
    public static PlacementWatcher connect(String controlPlane, String instanceId, String fingerprint, Duration wait) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(controlPlane).usePlaintext().build();
        return start(channel, instanceId, fingerprint, new PlacementWatcher(wait, channel));
    }

    private static PlacementWatcher start(Channel channel, String instanceId, String fingerprint, PlacementWatcher w) {
        ControlPlaneGrpc.newStub(channel).watchPlacement(WatchPlacementRequest.newBuilder().setInstanceId(instanceId)
                .setModelFingerprint(fingerprint).build(), w);
        return w;
    }

    @Override
    public void onNext(Placement p) {
        arrived.add(p);
    }

    @Override
    public void onError(Throwable t) {
        arrived.add(t);
    }

    @Override
    public void onCompleted() {
    }

    /** The next placement within {@code limit}, or null. */
    public Placement poll(Duration limit) throws InterruptedException {
        Object o = arrived.poll(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (o instanceof Throwable t) throw new AssertionError("the watch failed: " + t, t);
        Placement p = (Placement) o;
        if (p != null && !seen.isEmpty() && p.getVersion() <= seen.getLast().getVersion()) {
            throw new AssertionError("version " + p.getVersion() + " after " + seen.getLast().getVersion());
        }
        if (p != null) seen.add(p);
        return p;
    }

    public Placement next() throws InterruptedException {
        Placement p = poll(wait);
        if (p == null) throw new AssertionError("no placement within " + wait.toSeconds() + " s");
        return p;
    }

    /** The first placement from now on (or the current one, when none was read yet) that {@code wanted} accepts. */
    public Placement await(String what, Predicate<Placement> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            Placement p = poll(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (p != null && wanted.test(p)) return p;
        }
        throw new AssertionError("no placement with " + what + " within " + wait.toSeconds() + " s; last: "
                + (seen.isEmpty() ? "none" : seen.getLast()));
    }

    @Override
    public void close() {
        if (own != null) own.shutdownNow();
    }
}
