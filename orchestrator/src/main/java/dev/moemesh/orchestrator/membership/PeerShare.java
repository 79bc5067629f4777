package dev.moemesh.orchestrator.membership;

/**
 * An instance's peers as the control plane counts them: {@code count} live, not draining, instances of its role
 * (itself among them) and its {@code rank} among them, 0 to {@code count - 1}.
 */
public record PeerShare(int count, int rank) {
    public PeerShare {
        if (count < 1 || rank < 0 || rank >= count) {
            throw new IllegalArgumentException("rank " + rank + " of " + count + " peers");
        }
    }
}
