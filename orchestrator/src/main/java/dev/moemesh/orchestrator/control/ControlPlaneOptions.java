package dev.moemesh.orchestrator.control;

import java.time.Duration;

/**
 * The control plane's knobs ({@code orchestrator.control-plane.*}; {@code docs/control-plane.md} has the table).
 *
 * @param heartbeatInterval  how often instances heartbeat (told to them at registration)
 * @param missedHeartbeats   after this many intervals without one an instance is taken for dead
 * @param rebalanceInterval  how often the placement is re-planned from the load alone
 * @param minImprovement     a load-driven re-plan is published only when it lowers max/mean by this fraction
 * @param minReplicas        replicas of every expert before the redundant ones, as far as the slots allow (2: an
 *                           expert service killed without a drain leaves no expert unserved)
 * @param redundantReplicas  extra replicas per MoE layer for the hottest experts
 * @param moveTolerance      how much more load (a fraction) a re-plan accepts to keep replicas where they are
 * @param loadHalfLife       how fast reported rows lose weight
 * @param expertLoadTimeout  longest LoadExperts call (an expert service reads weights from disk)
 * @param unloadGrace        how long after a placement stops using an expert its service keeps it at least (callers
 *                           switch placements between layer calls; requests already sent still find it); past it,
 *                           until every attention service reports the placement or {@link #unloadWaitLimit()}
 * @param expertGroupSize    experts per group in the per-group metrics
 * @param settleTime         how long after start the first placement waits while the registered expert services
 *                           do not yet hold every expert between them (0: it does not wait), so the first to
 *                           register is not asked to load the others' experts
 */
public record ControlPlaneOptions(Duration heartbeatInterval, int missedHeartbeats, Duration rebalanceInterval,
                                  double minImprovement, int minReplicas, int redundantReplicas, double moveTolerance,
                                  Duration loadHalfLife, Duration expertLoadTimeout, Duration unloadGrace,
                                  int expertGroupSize, Duration settleTime) {
    public ControlPlaneOptions {
        if (missedHeartbeats < 1) throw new IllegalArgumentException("missed-heartbeats " + missedHeartbeats + " < 1");
        if (minReplicas < 1) throw new IllegalArgumentException("min-replicas " + minReplicas + " < 1");
        if (expertGroupSize < 1) throw new IllegalArgumentException("expert-group-size " + expertGroupSize + " < 1");
        if (settleTime.isNegative()) throw new IllegalArgumentException("settle-time " + settleTime + " < 0");
        for (Duration d : new Duration[] {heartbeatInterval, rebalanceInterval, loadHalfLife, expertLoadTimeout}) {
            if (d.isZero() || d.isNegative()) throw new IllegalArgumentException("a control-plane interval is " + d);
        }
    }

    /** How long an instance may go without a heartbeat. */
    public Duration heartbeatDeadline() {
        return heartbeatInterval.multipliedBy(missedHeartbeats);
    }

    /**
     * The longest an unused expert is kept for an attention service that has not reported the placement without
     * it: the grace plus two heartbeat deadlines. A live attention service heartbeats every interval, and one whose
     * watch missed a placement restarts the watch after two heartbeats naming a newer version, so by then it has
     * switched unless it cannot.
     */
    public Duration unloadWaitLimit() {
        return unloadGrace.plus(heartbeatDeadline().multipliedBy(2));
    }
}
