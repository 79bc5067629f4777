package dev.moemesh.attention.experts;

import dev.moemesh.core.moe.ExpertOutage;
import io.quarkus.logging.Log;

import java.time.Duration;
import java.util.Arrays;

/**
 * The experts one layer's call found without a live replica, as the sequences routed to them wait: worth trying
 * again once a placement newer than the call's is in use, or every {@link RemoteExperts.Healing#retryEvery} while none
 * comes (a holder may be back at its address); given up after {@link RemoteExperts.Healing#timeout}, after which calls
 * under the same placement do not wait again ({@link RemoteExperts#gaveUpUnder}).
 */
final class PlacementOutage implements ExpertOutage {
    private final RemoteExperts experts;
    private final RemoteExperts.Healing policy;
    private final NoLiveReplicaException missing;
    private final long foundAt = System.nanoTime();

    PlacementOutage(RemoteExperts experts, RemoteExperts.Healing policy, NoLiveReplicaException missing) {
        this.experts = experts;
        this.policy = policy;
        this.missing = missing;
    }

    @Override
    public Duration timeout() {
        return policy.timeout();
    }

    @Override
    public boolean worthRetrying() {
        return experts.placement().version() > missing.placementVersion()
                || System.nanoTime() - foundAt >= policy.retryEvery().toNanos();
    }

    @Override
    public void parked(int first, int again, int goingOn) {
        if (first > 0) {
            Log.warnf("layer %d expert%s %s without a live replica (%s); %d sequences wait up to %d ms for a placement"
                            + " that serves %s, %d others go on", missing.layer(), missing.experts().length > 1 ? "s" : "",
                    experts(), missing.getMessage(), first + again, policy.timeout().toMillis(),
                    missing.experts().length > 1 ? "them" : "it", goingOn);
        } else {
            Log.debugf("layer %d experts %s still without a live replica under placement version %d; %d sequences"
                    + " wait on", missing.layer(), experts(), missing.placementVersion(), again);
        }
    }

    @Override
    public void healed(long waitedNanos) {
        experts.healEnded(true, waitedNanos);
        Log.infof("healed: layer %d expert %d served again under placement version %d after %d ms; its sequence goes"
                + " on", missing.layer(), missing.expert(), experts.placement().version(), waitedNanos / 1_000_000);
    }

    @Override
    public String gaveUp(long waitedNanos) {
        experts.gaveUpUnder(missing.placementVersion());
        experts.healEnded(false, waitedNanos);
        Log.warnf("not healed: layer %d expert %d still has no live replica after %d ms; its sequence ends with the"
                + " error", missing.layer(), missing.expert(), waitedNanos / 1_000_000);
        return missing.getMessage() + "; no placement served it within " + policy.timeout().toMillis()
                + " ms (attention.expert-heal-timeout)";
    }

    private String experts() {
        int[] all = missing.experts();
        return all.length == 1 ? Integer.toString(all[0]) : Arrays.toString(all);
    }
}
