package dev.moemesh.tls;

import static dev.moemesh.tls.MeshRole.ATTENTION;
import static dev.moemesh.tls.MeshRole.EXPERT;
import static dev.moemesh.tls.MeshRole.OPERATOR;
import static dev.moemesh.tls.MeshRole.ORCHESTRATOR;
import static dev.moemesh.tls.MeshRole.ROUTER;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;

import java.util.Set;
import java.util.function.Consumer;

/**
 * The mesh's table of who may call what, one guard per server. With TLS off (a laptop) no guard is installed.
 *
 * <table>
 * <tr><th>service</th><th>method</th><th>roles</th></tr>
 * <tr><td>control plane</td><td>Register</td><td>expert (as an expert), attention (as an attention service) or
 * router (as a router), for an instance its certificate names when it names any</td></tr>
 * <tr><td></td><td>Heartbeat</td><td>expert, attention, router (same instance rule)</td></tr>
 * <tr><td></td><td>Drain</td><td>operator, or the instance itself (its certificate names it, or is an expert or
 * attention certificate that names no instance)</td></tr>
 * <tr><td></td><td>ReportUnreachable</td><td>attention</td></tr>
 * <tr><td></td><td>WatchPlacement</td><td>any mesh role</td></tr>
 * <tr><td>expert service</td><td>RunExperts, RunExpertsStream</td><td>attention</td></tr>
 * <tr><td></td><td>LoadExperts, UnloadExperts</td><td>orchestrator (the control plane), operator</td></tr>
 * <tr><td></td><td>GetExpertStats, Describe</td><td>attention, orchestrator, operator</td></tr>
 * <tr><td>attention service</td><td>Generate, Cancel</td><td>router, orchestrator (the doors)</td></tr>
 * <tr><td></td><td>GetAttentionStats</td><td>router, orchestrator, operator</td></tr>
 * </table>
 */
public final class MeshAccess {

    private MeshAccess() {}

    /** The whole table: one guard for any mesh process (it guards the services it serves, the others never come). */
    public static RoleGuard mesh(Consumer<RoleGuard.Refusal> refusals) {
        return expertService(attentionService(controlPlane(RoleGuard.builder()))).build(Set.of(
                ControlPlaneGrpc.getServiceDescriptor(), ExpertServiceGrpc.getServiceDescriptor(),
                AttentionServiceGrpc.getServiceDescriptor()), refusals);
    }

    public static RoleGuard controlPlane(Consumer<RoleGuard.Refusal> refusals) {
        return controlPlane(RoleGuard.builder()).build(Set.of(ControlPlaneGrpc.getServiceDescriptor()), refusals);
    }

    public static RoleGuard expertService(Consumer<RoleGuard.Refusal> refusals) {
        return expertService(RoleGuard.builder()).build(Set.of(ExpertServiceGrpc.getServiceDescriptor()), refusals);
    }

    public static RoleGuard attentionService(Consumer<RoleGuard.Refusal> refusals) {
        return attentionService(RoleGuard.builder()).build(Set.of(AttentionServiceGrpc.getServiceDescriptor()),
                refusals);
    }

    private static RoleGuard.Builder controlPlane(RoleGuard.Builder rules) {
        return rules
                .allowIf(ControlPlaneGrpc.getRegisterMethod(), MeshAccess::register, EXPERT, ATTENTION, ROUTER)
                .allowIf(ControlPlaneGrpc.getHeartbeatMethod(), (peer, r) -> sameInstance(peer, r.getInstanceId()),
                        EXPERT, ATTENTION, ROUTER)
                .allowIf(ControlPlaneGrpc.getDrainMethod(), MeshAccess::drain, OPERATOR, EXPERT, ATTENTION, ROUTER)
                .allow(ControlPlaneGrpc.getReportUnreachableMethod(), ATTENTION)
                .allow(ControlPlaneGrpc.getWatchPlacementMethod(), ATTENTION, EXPERT, ROUTER, ORCHESTRATOR, OPERATOR);
    }

    private static RoleGuard.Builder expertService(RoleGuard.Builder rules) {
        return rules
                .allow(ExpertServiceGrpc.getRunExpertsMethod(), ATTENTION)
                .allow(ExpertServiceGrpc.getRunExpertsStreamMethod(), ATTENTION)
                .allow(ExpertServiceGrpc.getLoadExpertsMethod(), ORCHESTRATOR, OPERATOR)
                .allow(ExpertServiceGrpc.getUnloadExpertsMethod(), ORCHESTRATOR, OPERATOR)
                .allow(ExpertServiceGrpc.getGetExpertStatsMethod(), ATTENTION, ORCHESTRATOR, OPERATOR)
                .allow(ExpertServiceGrpc.getDescribeMethod(), ATTENTION, ORCHESTRATOR, OPERATOR);
    }

    private static RoleGuard.Builder attentionService(RoleGuard.Builder rules) {
        return rules
                .allow(AttentionServiceGrpc.getGenerateMethod(), ROUTER, ORCHESTRATOR)
                .allow(AttentionServiceGrpc.getCancelMethod(), ROUTER, ORCHESTRATOR)
                .allow(AttentionServiceGrpc.getGetAttentionStatsMethod(), ROUTER, ORCHESTRATOR, OPERATOR);
    }

    private static String register(MeshIdentity peer, RegisterRequest request) {
        MeshRole needed = switch (request.getRole()) {
            case ROLE_EXPERT -> EXPERT;
            case ROLE_ATTENTION -> ATTENTION;
            case ROLE_ROUTER -> ROUTER;
            default -> null;
        };
        if (needed == null) {
            return "a registration names no role";
        }
        if (!peer.has(needed)) {
            return "registering as " + needed.label() + " takes a certificate of that role, the caller's names "
                    + peer.rolesLabel();
        }
        return sameInstance(peer, request.getInstanceId());
    }

    /**
     * an operator drains any instance; an expert, attention or router certificate the instance it names; an expert or
     * attention certificate that names none any (one certificate per role, as a Kubernetes Secret per Deployment
     * gives: it registers and heartbeats as any instance already, and a pod stopping must be able to drain itself);
     * a router's that names none, none (it would drain expert services; a router that cannot leave is counted until
     * its heartbeats stop)
     */
    private static String drain(MeshIdentity peer, dev.moemesh.proto.DrainRequest request) {
        if (peer.has(OPERATOR) || peer.instances().contains(request.getInstanceId())) {
            return null;
        }
        if (peer.instances().isEmpty() && (peer.has(EXPERT) || peer.has(ATTENTION))) {
            return null;
        }
        return "draining '" + request.getInstanceId() + "' takes an operator certificate or that instance's own";
    }

    /** a certificate that names instances speaks only for them; one that names none (one per role) for any */
    private static String sameInstance(MeshIdentity peer, String instanceId) {
        if (peer.instances().isEmpty() || peer.instances().contains(instanceId)) {
            return null;
        }
        return "the certificate speaks for " + peer.instances() + ", not '" + instanceId + "'";
    }
}
