package dev.moemesh.testing;

import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.netty.channel.ChannelOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback {@code ControlPlane} that publishes the placements a test gives it, as the orchestrator does (the
 * current one at once to each watcher, version 0 while there is none, then each published one), and records who
 * registered and heartbeats. It can forget its instances, publish without telling its watchers (a watch that died
 * silently), and stop and start again on the same port (a restart). The orchestrator itself needs a Kafka broker.
 */
public final class ControlPlaneStandIn implements AutoCloseable {
    private final String fingerprint;
    private final long heartbeatIntervalMs;
    private final int port;
    private final List<RegisterRequest> registrations = new CopyOnWriteArrayList<>();
    private final AtomicInteger heartbeats = new AtomicInteger();
    private volatile long reportedVersion = -1;
    private final AtomicInteger watches = new AtomicInteger();
    private final Set<String> known = ConcurrentHashMap.newKeySet();
    private final List<ServerCallStreamObserver<Placement>> watchers = new ArrayList<>(); // guarded by this
    private Placement current;                                                             // guarded by this
    private Server server;

    public ControlPlaneStandIn(String fingerprint, long heartbeatIntervalMs) {
        this.fingerprint = fingerprint;
        this.heartbeatIntervalMs = heartbeatIntervalMs;
        this.current = Placement.newBuilder().setModelFingerprint(fingerprint).build();
        this.server = serve(0);
        this.port = server.getPort();
    }

    private Server serve(int on) {
        try {
            // the address may be reused at once: a restart binds the port its predecessor's connections just left
            return NettyServerBuilder.forAddress(new InetSocketAddress("localhost", on))
                    .withOption(ChannelOption.SO_REUSEADDR, true).addService(new Service()).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not serve the control plane stand-in on port " + on, e);
        }
    }

    public String address() {
        return "localhost:" + port;
    }

    public List<RegisterRequest> registrations() {
        return List.copyOf(registrations);
    }

    public int heartbeats() {
        return heartbeats.get();
    }

    /** The placement version the last heartbeat said its sender routes with (-1 before any heartbeat). */
    public long reportedVersion() {
        return reportedVersion;
    }

    /** WatchPlacement calls since start. */
    public int watches() {
        return watches.get();
    }

    /** Sends this placement to every watcher and to each new one. */
    public synchronized void publish(Placement p) {
        current = p;
        watchers.removeIf(ServerCallStreamObserver::isCancelled);
        for (ServerCallStreamObserver<Placement> w : watchers) w.onNext(p);
    }

    /** Makes this placement current without sending it to the watchers there are now: their streams stay silent. */
    public synchronized void publishUnseen(Placement p) {
        current = p;
        watchers.clear();
    }

    /** Forgets every instance, as a restarted orchestrator has: their next heartbeat is answered known = false. */
    public void forgetAll() {
        known.clear();
    }

    /** Stops serving, ending every call, as a crashed orchestrator does. */
    public synchronized void stop() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        watchers.clear();
    }

    /** Serves again on the same port, knowing no instance and with the placement it had. */
    public synchronized void restart() {
        forgetAll();
        server = serve(port);
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }

    private final class Service extends ControlPlaneGrpc.ControlPlaneImplBase {
        @Override
        public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
            registrations.add(request);
            known.add(request.getInstanceId());
            long version;
            synchronized (ControlPlaneStandIn.this) {
                version = current.getVersion();
            }
            response.onNext(RegisterResponse.newBuilder().setHeartbeatIntervalMs(heartbeatIntervalMs)
                    .setPlacementVersion(version).build());
            response.onCompleted();
        }

        @Override
        public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
            heartbeats.incrementAndGet();
            reportedVersion = request.getPlacementVersion();
            long version;
            synchronized (ControlPlaneStandIn.this) {
                version = current.getVersion();
            }
            response.onNext(HeartbeatResponse.newBuilder().setKnown(known.contains(request.getInstanceId()))
                    .setPlacementVersion(version).build());
            response.onCompleted();
        }

        @Override
        public void watchPlacement(WatchPlacementRequest request, StreamObserver<Placement> placements) {
            watches.incrementAndGet();
            if (!request.getModelFingerprint().equals(fingerprint)) {
                placements.onError(Status.FAILED_PRECONDITION.withDescription("watcher '" + request.getInstanceId()
                        + "' serves " + request.getModelFingerprint() + " but this mesh serves " + fingerprint)
                        .asRuntimeException());
                return;
            }
            synchronized (ControlPlaneStandIn.this) {
                ServerCallStreamObserver<Placement> watcher = (ServerCallStreamObserver<Placement>) placements;
                watcher.onNext(current);
                watchers.add(watcher);
            }
        }
    }
}
