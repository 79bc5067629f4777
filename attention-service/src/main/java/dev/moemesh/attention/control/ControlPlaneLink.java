package dev.moemesh.attention.control;

import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.Role;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.logging.Log;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * This attention service's side of the orchestrator's control plane: it registers as an attention service,
 * heartbeats at the interval the control plane gives (registering again when it is not known there), and watches
 * the placement, handing each one received to a listener. While the control plane is down or restarting it retries
 * with back-off, and the service keeps the placement it has; each change between reachable and not is logged once.
 */
public final class ControlPlaneLink implements AutoCloseable {
    private static final long CALL_DEADLINE_MS = 5_000;
    /** The orchestrator's default, for a control plane that names no interval. */
    private static final long DEFAULT_HEARTBEAT_MS = 2_000;
    /** Heartbeats in a row that name a newer version than the watch delivered before the watch is taken for stuck. */
    private static final int BEHIND_HEARTBEATS = 2;

    /** Who this service is to the control plane. */
    public record Identity(String instanceId, String address, String modelFingerprint) {}

    /** The waits between attempts while the control plane cannot be reached: {@code first}, doubling up to {@code max}. */
    public record Backoff(Duration first, Duration max) {}

    private final String target;
    private final Identity identity;
    private final Consumer<Placement> listener;
    private final LongSupplier placementInUse;
    private final Backoff backoff;
    private final ManagedChannel channel;
    private final ScheduledThreadPoolExecutor worker; // one thread: registers, heartbeats, starts watches
    // the worker's own
    private boolean registered;
    private long heartbeatMillis;
    private long membershipRetryMillis;
    private boolean membershipDown;
    private int heartbeatsAhead;
    private long watchRetryMillis;
    private boolean watchDown;
    private int watchGeneration;
    private ClientCallStreamObserver<WatchPlacementRequest> watchCall;
    private volatile long watchedVersion = -1; // the newest version the watch delivered, written by its callbacks
    private volatile boolean closed;

    /**
     * @param target         the control plane's gRPC address, {@code host:port}
     * @param listener       gets every placement the watch delivers, in order, on a gRPC thread
     * @param placementInUse the version this service routes with now, told in each heartbeat
     */
    public ControlPlaneLink(String target, Identity identity, Consumer<Placement> listener, LongSupplier placementInUse,
                            Backoff backoff) {
        this.target = target;
        this.identity = identity;
        this.listener = listener;
        this.placementInUse = placementInUse;
        this.backoff = backoff;
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        this.worker = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "control-plane-link");
            t.setDaemon(true);
            return t;
        });
        worker.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.membershipRetryMillis = backoff.first().toMillis();
        this.watchRetryMillis = backoff.first().toMillis();
    }

    /** Registers and starts watching, both in the background: the service serves meanwhile. */
    public void start() {
        later(this::registerOrHeartbeat, 0);
        later(this::watch, 0);
    }

    public String target() {
        return target;
    }

    private void registerOrHeartbeat() {
        if (closed) return;
        try {
            if (registered) {
                heartbeat();
            } else {
                register();
            }
            membershipRetryMillis = backoff.first().toMillis();
            later(this::registerOrHeartbeat, heartbeatMillis);
        } catch (StatusRuntimeException e) {
            if (!membershipDown) {
                membershipDown = true;
                Log.warnf("control plane at %s: %s failed (%s); trying again, serving with the placement in use"
                        + " meanwhile", target, registered ? "Heartbeat" : "Register", describe(e.getStatus()));
            }
            later(this::registerOrHeartbeat, membershipRetryMillis);
            membershipRetryMillis = Math.min(2 * membershipRetryMillis, backoff.max().toMillis());
        }
    }

    private void register() {
        RegisterResponse r = stub().register(RegisterRequest.newBuilder().setInstanceId(identity.instanceId())
                .setRole(Role.ROLE_ATTENTION).setAddress(identity.address())
                .setModelFingerprint(identity.modelFingerprint()).build());
        registered = true;
        membershipDown = false;
        heartbeatMillis = r.getHeartbeatIntervalMs() > 0 ? r.getHeartbeatIntervalMs() : DEFAULT_HEARTBEAT_MS;
        Log.infof("registered with the control plane at %s as attention service '%s' (%s); heartbeat every %d ms",
                target, identity.instanceId(), identity.address(), heartbeatMillis);
    }

    private void heartbeat() {
        HeartbeatResponse r = stub().heartbeat(HeartbeatRequest.newBuilder().setInstanceId(identity.instanceId())
                .setPlacementVersion(placementInUse.getAsLong()).build());
        if (membershipDown) {
            membershipDown = false;
            Log.infof("control plane at %s answers again", target);
        }
        if (!r.getKnown()) {
            Log.infof("control plane at %s does not know attention service '%s' (it restarted, or missed its"
                    + " heartbeats); registering again", target, identity.instanceId());
            registered = false;
            register();
            return;
        }
        // a watch whose connection died silently delivers nothing: the heartbeats tell of versions it missed
        heartbeatsAhead = r.getPlacementVersion() > watchedVersion ? heartbeatsAhead + 1 : 0;
        if (heartbeatsAhead >= BEHIND_HEARTBEATS && watchCall != null) {
            heartbeatsAhead = 0;
            Log.warnf("control plane at %s publishes placement version %d but the watch delivered only %d; watching"
                    + " again", target, r.getPlacementVersion(), watchedVersion);
            watchCall.cancel("the watch fell behind", null);
            watchCall = null;
            watch();
        }
    }

    private ControlPlaneGrpc.ControlPlaneBlockingStub stub() {
        return ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_DEADLINE_MS, TimeUnit.MILLISECONDS);
    }

    private void watch() {
        if (closed) return;
        int generation = ++watchGeneration;
        ControlPlaneGrpc.newStub(channel).watchPlacement(WatchPlacementRequest.newBuilder()
                .setInstanceId(identity.instanceId()).setModelFingerprint(identity.modelFingerprint()).build(),
                new ClientResponseObserver<WatchPlacementRequest, Placement>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<WatchPlacementRequest> call) {
                        watchCall = call;
                    }

                    @Override
                    public void onNext(Placement placement) {
                        watchedVersion = Math.max(watchedVersion, placement.getVersion());
                        later(() -> watching(generation), 0);
                        listener.accept(placement);
                    }

                    @Override
                    public void onError(Throwable t) {
                        later(() -> watchEnded(generation, describe(Status.fromThrowable(t))), 0);
                    }

                    @Override
                    public void onCompleted() {
                        later(() -> watchEnded(generation, "the control plane ended the stream"), 0);
                    }
                });
    }

    private void watching(int generation) {
        if (generation != watchGeneration) return;
        watchRetryMillis = backoff.first().toMillis();
        if (watchDown) {
            watchDown = false;
            Log.infof("watching the placement at %s again", target);
        }
    }

    private void watchEnded(int generation, String why) {
        if (closed || generation != watchGeneration) return; // a watch this link replaced
        watchCall = null;
        if (!watchDown) {
            watchDown = true;
            Log.warnf("placement watch at %s ended (%s); watching again, keeping the placement in use meanwhile",
                    target, why);
        }
        later(this::watch, watchRetryMillis);
        watchRetryMillis = Math.min(2 * watchRetryMillis, backoff.max().toMillis());
    }

    /** Runs a task on the worker after a delay; nothing once the link is closed. */
    private void later(Runnable task, long delayMillis) {
        try {
            worker.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            if (!closed) throw e;
        }
    }

    private static String describe(Status status) {
        return status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        worker.execute(() -> {
            if (watchCall != null) watchCall.cancel("attention service stopping", null);
        });
        worker.shutdown();
        try {
            worker.awaitTermination(CALL_DEADLINE_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        channel.shutdownNow();
    }
}
