package dev.moemesh.attention.experts;

import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.RoutedBatch;
import io.quarkus.logging.Log;

import java.util.BitSet;

/**
 * One layer's routed experts that heal instead of failing the step: when some expert has no live replica
 * ({@link NoLiveReplicaException}: its holders all failed in the call, or the placement gives it to no service), the
 * call waits for a placement newer than the one it used (the breaker that opened has already told the control plane,
 * which re-places a dead service's experts on the survivors) and is sent again, whole, under it; with no new
 * placement it is sent again every retry interval, in case a holder is back at its address. Only when
 * {@code attention.expert-heal-timeout} has passed does the step fail, with the call's last error (a call sent before
 * the deadline is waited for, so the timeout may be overrun by one call: e.g. the 2 s a dead sole holder's connection
 * is given).
 *
 * <p>The step waits whole: every row of the batch, not only the rows routed to the missing expert. Its attention for
 * this layer (and the KV cache entries it wrote) stays valid, so the rows go on exactly as if nothing had happened:
 * the same expert outputs, the same tokens.
 *
 * <p>Not healed, failing at once: a call before any placement (the service is not ready), an expert no service
 * holds when no control plane can place it (a fixed list of expert services), and any call under a placement whose
 * heal already timed out, until a newer placement comes or an expert service answers again (its breaker closes): an
 * expert nothing can serve costs one timeout, not one per step.
 */
final class HealingCall implements ExpertBackend.Pending {
    private final RemoteExperts experts;
    private final RoutedBatch batch;
    private ExpertCall call;                  // null when sending failed at once
    private NoLiveReplicaException unsent;    // why it did

    private HealingCall(RemoteExperts experts, RoutedBatch batch) {
        this.experts = experts;
        this.batch = batch;
    }

    static HealingCall send(RemoteExperts experts, RoutedBatch batch) {
        HealingCall h = new HealingCall(experts, batch);
        try {
            h.call = ExpertCall.send(experts, batch);
        } catch (NoLiveReplicaException e) {
            h.unsent = e;
        }
        return h;
    }

    @Override
    public void await() {
        NoLiveReplicaException missing = unsent;
        if (missing == null) {
            try {
                call.await();
                return;
            } catch (NoLiveReplicaException e) {
                missing = e;
            }
        }
        heal(missing);
    }

    private void heal(NoLiveReplicaException first) {
        RemoteExperts.Healing policy = experts.healing();
        if (!policy.mayHeal(first)) throw first;
        long gaveUp = experts.gaveUpUnder();
        if (gaveUp == first.placementVersion()) {
            // a heal under this placement already waited the whole timeout in vain: no step waits again until a new one
            throw new IllegalStateException(first.getMessage() + "; not waiting: a heal under placement version "
                    + gaveUp + " timed out, and no newer placement has come", first);
        }
        long started = System.nanoTime();
        long until = started + policy.timeout().toNanos();
        int rows = tokenRows();
        Log.warnf("layer %d expert %d has no live replica (%s); the step (%d rows) waits up to %d ms for a placement"
                + " that serves it", first.layer(), first.expert(), first.getMessage(), rows,
                policy.timeout().toMillis());
        experts.healStarted();
        NoLiveReplicaException last = first;
        int tries = 0;
        try {
            while (true) {
                long now = System.nanoTime();
                if (now - until >= 0) break;
                experts.awaitPlacementNewerThan(last.placementVersion(),
                        Math.min(until - now, policy.retryEvery().toNanos()));
                if (Thread.currentThread().isInterrupted()) break;
                // at the deadline, only a placement not tried yet is worth one more call
                boolean newer = experts.placement().version() > last.placementVersion();
                if (!newer && System.nanoTime() - until >= 0) break;
                tries++;
                try {
                    send(experts, batch).awaitOnce(); // under the placement in use now
                    long waited = System.nanoTime() - started;
                    experts.healEnded(true, rows, waited);
                    Log.infof("healed: layer %d expert %d served again under placement version %d after %d ms"
                            + " (%d calls again); the step's %d rows go on", first.layer(), first.expert(),
                            experts.placement().version(), waited / 1_000_000, tries, rows);
                    return;
                } catch (NoLiveReplicaException e) {
                    last = e;
                }
            }
        } catch (RuntimeException e) {
            experts.healEnded(false, rows, System.nanoTime() - started);
            throw e; // another failure while healing (a timeout, a refusal): the step fails with it as before
        }
        long waited = System.nanoTime() - started;
        experts.gaveUpUnder(last.placementVersion());
        experts.healEnded(false, rows, waited);
        Log.warnf("not healed: layer %d expert %d still has no live replica after %d ms (%d calls again); the step's"
                + " %d rows end with the error", first.layer(), first.expert(), waited / 1_000_000, tries, rows);
        throw new IllegalStateException(last.getMessage() + "; no placement served it within "
                + policy.timeout().toMillis() + " ms (attention.expert-heal-timeout)", last);
    }

    /** Waits for the outputs, without healing: the caller's loop does. */
    private void awaitOnce() {
        if (unsent != null) throw unsent;
        call.await();
    }

    /** Token rows in the batch: each has its routed experts here, so each waits with the step. */
    private int tokenRows() {
        BitSet rows = new BitSet();
        for (int a = 0; a < batch.assignments(); a++) rows.set(batch.tokenRow()[a]);
        return rows.cardinality();
    }
}
