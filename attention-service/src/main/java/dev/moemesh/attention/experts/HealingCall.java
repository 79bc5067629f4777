package dev.moemesh.attention.experts;

import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.RoutedBatch;

/**
 * One layer's routed experts that heal instead of failing the step: when some experts have no live replica
 * ({@link NoLiveReplicaException}: their holders all failed in the call, or the placement gives them to no service),
 * the call still computes every other expert and names the missing ones in an {@link ExpertsUnservedException}; the
 * engine sets aside only the sequences routed to them, and the rest of the batch goes on. With healing on, the
 * exception carries an {@link PlacementOutage}: the sequences wait for a placement newer than the one the call used
 * (the breaker that opened has already told the control plane, which re-places a dead service's experts on the
 * survivors) or, while none comes, try again every retry interval in case a holder is back at its address; past
 * {@code attention.expert-heal-timeout} they end with the call's error.
 *
 * <p>Not waited for, ending their sequences at once (the rest of the batch still goes on): a call before any
 * placement (the service is not ready), an expert no service holds when no control plane can place it (a fixed list
 * of expert services), and any call under a placement whose heal already timed out, until a newer placement comes or
 * an expert service answers again (its breaker closes): an expert nothing can serve costs one timeout, not one per
 * sequence.
 */
final class HealingCall implements ExpertBackend.Pending {
    private final RemoteExperts experts;
    private final ExpertCall call;

    private HealingCall(RemoteExperts experts, ExpertCall call) {
        this.experts = experts;
        this.call = call;
    }

    static HealingCall send(RemoteExperts experts, RoutedBatch batch) {
        return new HealingCall(experts, ExpertCall.send(experts, batch));
    }

    @Override
    public void await() {
        try {
            call.await();
        } catch (NoLiveReplicaException e) {
            throw unserved(e);
        }
    }

    private ExpertsUnservedException unserved(NoLiveReplicaException missing) {
        RemoteExperts.Healing policy = experts.healing();
        if (!policy.mayHeal(missing)) {
            return new ExpertsUnservedException(missing.getMessage(), missing.layer(), missing.experts(), null);
        }
        long gaveUp = experts.gaveUpUnder();
        if (gaveUp == missing.placementVersion()) {
            // a sequence under this placement already waited the whole timeout in vain: none waits again until a new one
            return new ExpertsUnservedException(missing.getMessage() + "; not waiting: a heal under placement version "
                    + gaveUp + " timed out, and no newer placement has come", missing.layer(), missing.experts(), null);
        }
        return new ExpertsUnservedException(missing.getMessage(), missing.layer(), missing.experts(),
                new PlacementOutage(experts, policy, missing));
    }
}
