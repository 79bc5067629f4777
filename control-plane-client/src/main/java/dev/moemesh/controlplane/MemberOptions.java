package dev.moemesh.controlplane;

import dev.moemesh.proto.Placement;
import dev.moemesh.tls.MeshChannels;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * How a {@link ControlPlaneMember} retries, whether it watches the placement and whether it drains when it stops.
 *
 * @param firstRetry   the wait after a call that could not reach the control plane; doubled on each failure after it
 * @param longestRetry the longest wait between tries
 * @param refusedRetry the wait after a refused registration (another model, a bad argument): the answer stays the
 *                     same until one side restarts differently
 * @param placements   gets every placement the watch delivers, in order, on a gRPC thread; empty: no watch
 * @param drainTimeout the longest wait for the control plane to take this instance out of the placement when the
 *                     member closes; empty: it closes without draining
 * @param channels     plaintext, or mutual TLS on the service's role certificate
 */
public record MemberOptions(Duration firstRetry, Duration longestRetry, Duration refusedRetry,
                            Optional<Consumer<Placement>> placements, Optional<Duration> drainTimeout,
                            MeshChannels channels) {

    /** over plaintext */
    public MemberOptions(Duration firstRetry, Duration longestRetry, Duration refusedRetry,
                         Optional<Consumer<Placement>> placements, Optional<Duration> drainTimeout) {
        this(firstRetry, longestRetry, refusedRetry, placements, drainTimeout, MeshChannels.PLAINTEXT);
    }

    public MemberOptions over(MeshChannels channels) {
        return new MemberOptions(firstRetry, longestRetry, refusedRetry, placements, drainTimeout, channels);
    }
}
