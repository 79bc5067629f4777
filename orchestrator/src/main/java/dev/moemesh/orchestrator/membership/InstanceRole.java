package dev.moemesh.orchestrator.membership;

/** What a member of the mesh does: attention services route to expert services, which hold routed experts. */
public enum InstanceRole {
    ATTENTION,
    EXPERT
}
