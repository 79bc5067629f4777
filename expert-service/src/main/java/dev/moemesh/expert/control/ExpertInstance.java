package dev.moemesh.expert.control;

/**
 * How this expert service names itself to the control plane: what Register sends besides the experts it holds.
 *
 * @param instanceId       stable across restarts of this instance
 * @param address          {@code host:port} of its gRPC server as the orchestrator and attention services reach it
 * @param modelFingerprint the checkpoint's fingerprint, as Describe reports it
 * @param expertSlots      routed experts of each MoE layer it can hold; 0: no limit
 */
public record ExpertInstance(String instanceId, String address, String modelFingerprint, int expertSlots) {

    public ExpertInstance {
        if (expertSlots < 0) {
            throw new IllegalArgumentException("expert.expert-slots = " + expertSlots + " is negative; give the number"
                    + " of routed experts per MoE layer this instance can hold, or 0 for no limit");
        }
    }
}
