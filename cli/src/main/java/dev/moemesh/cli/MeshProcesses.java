package dev.moemesh.cli;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.localmesh.LocalMesh;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The processes {@code mesh up} and {@code mesh demo} start on one machine, in dependency order: a Kafka broker,
 * the orchestrator (the Kafka door and the control plane), N expert services that join the control plane holding
 * disjoint slices of every layer's routed experts, an attention service that follows the control plane's
 * placement, and the router (gRPC and REST). Without the front doors: the expert services and an attention service
 * that asks them what they hold.
 */
record MeshProcesses(LocalMesh.Service broker, List<LocalMesh.Service> expertServices, LocalMesh.Service attention,
                     LocalMesh.Service orchestrator, LocalMesh.Service router) {
    private static final Duration READY = Duration.ofMinutes(5);

    /** Where each process listens; {@code broker} 0 leaves out the broker, the orchestrator and the router. */
    record Ports(int broker, int attention, int firstExpertService, int routerGrpc, int routerHttp, int orchestratorHttp,
                 int controlPlane) {
        /** The services' own defaults: broker 9092, attention 9200, experts from 9201, router 9300 and 8080, orchestrator 8380 and 9400. */
        static Ports defaults(int attention, boolean frontDoors) {
            return new Ports(frontDoors ? 9092 : 0, attention, attention + 1, 9300, 8080, 8380, 9400);
        }

        /** Free ports, for a run beside whatever else listens here. */
        static Ports free() {
            return new Ports(LocalMesh.freePort(), LocalMesh.freePort(), 0, LocalMesh.freePort(), LocalMesh.freePort(),
                    LocalMesh.freePort(), LocalMesh.freePort());
        }

        boolean frontDoors() {
            return broker != 0;
        }

        int expertService(int i) {
            return firstExpertService == 0 ? LocalMesh.freePort() : firstExpertService + i;
        }
    }

    /** Starts them, printing a line per process to {@code report} as each becomes ready. */
    static MeshProcesses start(LocalMesh mesh, Path home, Path model, int expertServices, Ports ports,
                               List<String> attentionProperties, PrintStream report) {
        int experts = ModelConfig.load(model).nRoutedExperts();
        // refuses a split that cannot be made, before anything starts; none: the attention service computes the experts
        if (expertServices > 0) LocalMesh.slice(0, expertServices, experts);
        String attentionAddress = "localhost:" + ports.attention();
        LocalMesh.Service broker = null;
        LocalMesh.Service orchestrator = null;
        List<String> joinExperts = List.of();
        List<String> joinAttention = List.of();
        if (ports.frontDoors()) {
            broker = mesh.startBroker("kafka", home.resolve("kafka"), ports.broker(), READY);
            report.printf("kafka                 %-15s  pid %-7d  log %s%n", broker.address(), broker.process().pid(),
                    broker.log());
            // the first placement waits for the expert services still starting, rather than loading every expert
            // onto the first to register
            orchestrator = mesh.startOrchestrator("orchestrator", model, broker.address(), List.of(attentionAddress),
                    ports.orchestratorHttp(), ports.controlPlane(),
                    List.of("-Dorchestrator.control-plane.settle-time=60s"), READY);
            String controlPlane = "localhost:" + ports.controlPlane();
            report.printf("orchestrator          %-15s  pid %-7d  log %s  (inference.requests -> inference.responses;"
                    + " control plane on %s)%n", orchestrator.address(), orchestrator.process().pid(), orchestrator.log(),
                    controlPlane);
            joinExperts = List.of("-Dexpert.control-plane=" + controlPlane);
            joinAttention = List.of("-Dattention.control-plane=" + controlPlane);
        }
        List<LocalMesh.Service> started = new ArrayList<>();
        for (int i = 0; i < expertServices; i++) {
            String slice = LocalMesh.slice(i, expertServices, experts);
            LocalMesh.Service s = mesh.startExpertService("expert-service-" + (i + 1), model, slice,
                    ports.expertService(i), joinExperts, READY);
            started.add(s);
            report.printf("expert-service-%-6d %-15s  pid %-7d  log %s  experts %s%n", i + 1, s.address(),
                    s.process().pid(), s.log(), slice);
        }
        List<String> props = new ArrayList<>(expertServices > 0 ? joinAttention : List.of());
        props.addAll(attentionProperties);
        // with a control plane the placement comes from it; without, the attention service asks each service
        List<String> addresses = ports.frontDoors() ? List.of()
                : started.stream().map(LocalMesh.Service::address).toList();
        LocalMesh.Service attention = mesh.startAttentionService("attention-service", model, addresses,
                ports.attention(), props, READY);
        mesh.awaitHealthReady(attention, READY);
        report.printf("attention-service     %-15s  pid %-7d  log %s%n", attention.address(), attention.process().pid(),
                attention.log());
        if (ports.frontDoors() && expertServices > 0) {
            // the redundancy the control plane got: the placement the attention service became ready with, or newer
            report.printf("redundancy            %s%n", Redundancy.of(Redundancy.current("localhost:" + ports.controlPlane(),
                    ModelFingerprint.of(model), mesh.channels()), ModelConfig.load(model)).line());
        }
        if (broker == null) return new MeshProcesses(null, started, attention, null, null);
        LocalMesh.Service router = mesh.startRouter("router-service", model, List.of(attention.address()),
                ports.routerGrpc(), ports.routerHttp(), READY);
        report.printf("router-service        %-15s  pid %-7d  log %s  (REST on http://localhost:%d/v1)%n",
                router.address(), router.process().pid(), router.log(), router.httpPort());
        return new MeshProcesses(broker, started, attention, orchestrator, router);
    }

    String restBase() {
        return "http://localhost:" + router.httpPort();
    }
}
