package dev.moemesh.controlplane;

import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.PeerShare;
import dev.moemesh.proto.RegisterRequest;

/**
 * What a member tells the control plane beyond who it is: an expert service the experts it holds, its slots and the
 * rows each expert computed; an attention service the placement version it routes with. It hears back how many peers
 * of its role the control plane counts. Called on the member's own thread only.
 */
public interface MemberReport {

    /** Adds what a registration carries (called at each one: after a restart the control plane asks again). */
    default void register(RegisterRequest.Builder request) {}

    /** Adds what this heartbeat carries. */
    void heartbeat(HeartbeatRequest.Builder beat);

    /** The control plane took the heartbeat last built (it knew this instance); one that failed is built again. */
    default void heartbeatTaken() {}

    /** The live instances of this role, this one among them, as the answer to a registration or heartbeat says. */
    default void peers(PeerShare peers) {}
}
