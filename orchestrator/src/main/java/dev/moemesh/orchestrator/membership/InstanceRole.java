package dev.moemesh.orchestrator.membership;

/**
 * What a member of the mesh does: attention services route to expert services, which hold routed experts; routers
 * (the doors) are members only to count each other, so that they share each API key's bounds.
 */
public enum InstanceRole {
    ATTENTION,
    EXPERT,
    ROUTER
}
