package dev.moemesh.controlplane;

import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import org.jboss.logging.Logger;

import java.util.function.Consumer;

/**
 * A member's {@code WatchPlacement} stream: each placement to the listener, and a new watch with back-off when the
 * stream ends or, as the heartbeats tell, fell silent. Runs on the member's thread, except the gRPC callbacks.
 */
final class PlacementWatch {
    private static final Logger LOG = Logger.getLogger(PlacementWatch.class);
    /** Heartbeats in a row that name a newer version than the watch delivered before the watch is taken for stuck. */
    private static final int BEHIND_HEARTBEATS = 2;

    private final ControlPlaneMember member;
    private final Consumer<Placement> listener;
    // the member's thread's own
    private long retryMillis;
    private boolean down;
    private int generation;
    private int heartbeatsAhead;
    private ClientCallStreamObserver<WatchPlacementRequest> call;
    private String watching;   // the control plane the watch in progress was sent to
    private volatile long watchedVersion = -1; // the newest version the watch delivered, written by its callbacks

    PlacementWatch(ControlPlaneMember member, Consumer<Placement> listener) {
        this.member = member;
        this.listener = listener;
        this.retryMillis = member.options().firstRetry().toMillis();
    }

    void watch() {
        if (member.stopping() || call != null) return; // one watch at a time: a retry scheduled before this one began
        int generation = ++this.generation;
        ControlPlaneMember.Identity self = member.identity();
        watching = member.target();
        ControlPlaneGrpc.newStub(member.channel()).watchPlacement(WatchPlacementRequest.newBuilder()
                .setInstanceId(self.instanceId()).setModelFingerprint(self.modelFingerprint()).build(),
                new ClientResponseObserver<WatchPlacementRequest, Placement>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<WatchPlacementRequest> started) {
                        call = started;
                    }

                    @Override
                    public void onNext(Placement placement) {
                        watchedVersion = Math.max(watchedVersion, placement.getVersion());
                        member.later(() -> watching(generation), 0);
                        listener.accept(placement);
                    }

                    @Override
                    public void onError(Throwable t) {
                        member.later(() -> ended(generation, ControlPlaneMember.describe(Status.fromThrowable(t))), 0);
                    }

                    @Override
                    public void onCompleted() {
                        member.later(() -> ended(generation, "the control plane ended the stream"), 0);
                    }
                });
    }

    /**
     * The member registered with {@code target} (one of several orchestrators, the one leading now): a watch in
     * progress at another, or one waiting to be tried again, is sent there at once.
     */
    void following(String target) {
        if (call != null && target.equals(watching)) return;
        if (call != null) {
            LOG.infof("the control plane is at %s now; watching the placement there", target);
            call.cancel("the control plane moved to " + target, null);
            call = null;
        }
        retryMillis = member.options().firstRetry().toMillis();
        watch();
    }

    /** A heartbeat's answer named the version the control plane publishes: a watch that died silently misses it. */
    void published(long version) {
        heartbeatsAhead = version > watchedVersion ? heartbeatsAhead + 1 : 0;
        if (heartbeatsAhead >= BEHIND_HEARTBEATS && call != null) {
            heartbeatsAhead = 0;
            LOG.warnf("control plane at %s publishes placement version %d but the watch delivered only %d; watching"
                    + " again", watching, version, watchedVersion);
            call.cancel("the watch fell behind", null);
            call = null;
            watch();
        }
    }

    private void watching(int generation) {
        if (generation != this.generation) return;
        retryMillis = member.options().firstRetry().toMillis();
        if (down) {
            down = false;
            LOG.infof("watching the placement at %s again", watching);
        }
    }

    private void ended(int generation, String why) {
        if (member.stopping() || generation != this.generation) return; // a watch this one replaced
        call = null;
        if (!down) {
            down = true;
            LOG.warnf("placement watch at %s ended (%s); watching again, keeping the placement in use meanwhile",
                    watching, why);
        }
        member.later(this::watch, retryMillis);
        retryMillis = Math.min(2 * retryMillis, member.options().longestRetry().toMillis());
    }

    void cancel(String why) {
        if (call != null) call.cancel(why, null);
    }
}
