package dev.moemesh.chaos;

import static dev.moemesh.router.LocalEngineReference.MODEL;

import dev.moemesh.localmesh.LocalMesh;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The worst case of an expert service's death, as processes: an orchestrator's control plane (no broker) with
 * {@code min-replicas} 1, two expert services holding the only replica of half the routed experts each ({@code *:0-7}
 * and {@code *:8-15}), and an attention service following the control plane, ready once every expert is placed. The
 * heartbeat deadline is 30 s, so that only the attention service's ReportUnreachable explains a re-placement within
 * seconds of a kill.
 */
record SingleReplicaMesh(LocalMesh.Service orchestrator, LocalMesh.Service low, LocalMesh.Service high,
                         LocalMesh.Service attention) {
    private static final Duration READY = Duration.ofMinutes(3);

    /** Starts it; process names begin with {@code prefix}; {@code attentionProperties} go to the attention service. */
    static SingleReplicaMesh start(LocalMesh mesh, String prefix, List<String> attentionProperties) {
        int controlPort = LocalMesh.freePort();
        String controlPlane = "localhost:" + controlPort;
        LocalMesh.Service orchestrator = mesh.launchOrchestrator(prefix + "-orchestrator", MODEL,
                "localhost:" + LocalMesh.freePort(), List.of("localhost:1"), LocalMesh.freePort(), controlPort,
                List.of("-Dorchestrator.control-plane.min-replicas=1",
                        // the first placement waits for both, so each keeps its half: no replica of the other's
                        "-Dorchestrator.control-plane.settle-time=60s",
                        "-Dorchestrator.control-plane.heartbeat-interval=500ms",
                        "-Dorchestrator.control-plane.missed-heartbeats=60"));
        List<String> member = List.of("-Dexpert.control-plane=" + controlPlane);
        LocalMesh.Service low = mesh.startExpertService(prefix + "-experts-low", MODEL, "*:0-7", LocalMesh.freePort(),
                member, READY);
        LocalMesh.Service high = mesh.startExpertService(prefix + "-experts-high", MODEL, "*:8-15",
                LocalMesh.freePort(), member, READY);
        List<String> props = new ArrayList<>(List.of("-Dattention.control-plane=" + controlPlane));
        props.addAll(attentionProperties);
        LocalMesh.Service attention = mesh.startAttentionService(prefix + "-attention", MODEL, List.of(),
                LocalMesh.freePort(), props, READY);
        mesh.awaitHealthReady(attention, READY); // a placement covers every routed expert
        return new SingleReplicaMesh(orchestrator, low, high, attention);
    }
}
