package dev.moemesh.core.moe;

import java.time.Duration;

/**
 * Routed experts that no holder serves now, as the backend that found it sees it: how long the sequences that need
 * them may wait ({@link #timeout}), when trying them again is worth a step ({@link #worthRetrying}: a newer placement,
 * or a holder that may be back), and what to count and say as they wait, heal or give up. The engine calls it from
 * its one thread.
 */
public interface ExpertOutage {

    /** How long a sequence may wait in all, from the step that first set it aside, for its experts to be served. */
    Duration timeout();

    /** Whether the sequences set aside for this outage should run again now. */
    boolean worthRetrying();

    /**
     * A step set sequences aside for this outage: {@code first} for the first time, {@code again} after trying them
     * again in vain; {@code goingOn} other sequences of the step went on.
     */
    void parked(int first, int again, int goingOn);

    /** A sequence set aside for this outage (the last it waited for) ran every layer again after waiting. */
    void healed(long waitedNanos);

    /** A sequence waited past {@link #timeout}: counts it, and gives the error it ends with. */
    String gaveUp(long waitedNanos);
}
