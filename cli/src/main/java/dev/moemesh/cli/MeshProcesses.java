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
 * the orchestrator (the Kafka door and the control plane; more orchestrators add Kafka doors in the same consumer
 * group), N expert services that join the control plane holding disjoint slices of every layer's routed experts, one
 * or more attention services that follow the control plane's placement, and one or more routers (gRPC and REST)
 * over all of them. Without the front doors: the expert services and an attention service that asks them what they
 * hold.
 */
record MeshProcesses(LocalMesh.Service broker, List<LocalMesh.Service> expertServices,
                     List<LocalMesh.Service> attentionServices, List<LocalMesh.Service> orchestrators,
                     List<LocalMesh.Service> routers) {
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

    /** The first attention service (the one on the given port). */
    LocalMesh.Service attention() {
        return attentionServices.get(0);
    }

    /** The first orchestrator, whose control plane the mesh follows; null without the front doors. */
    LocalMesh.Service orchestrator() {
        return orchestrators.isEmpty() ? null : orchestrators.get(0);
    }

    /** The first router (the one on the given ports); null without the front doors. */
    LocalMesh.Service router() {
        return routers.isEmpty() ? null : routers.get(0);
    }

    /** Starts them, one attention service, orchestrator and router, printing a line per process to {@code report}. */
    static MeshProcesses start(LocalMesh mesh, Path home, Path model, int expertServices, Ports ports,
                               List<String> attentionProperties, PrintStream report) {
        return start(mesh, home, model, expertServices, 1, 1, 1, ports, attentionProperties, report);
    }

    /**
     * Starts them, printing a line per process to {@code report} as each becomes ready: the first attention service,
     * orchestrator and router on the given ports, the others on free ones.
     */
    static MeshProcesses start(LocalMesh mesh, Path home, Path model, int expertServices, int attentionServices,
                               int orchestrators, int routers, Ports ports, List<String> attentionProperties,
                               PrintStream report) {
        if (attentionServices < 1) throw new IllegalArgumentException("--attention-services must be at least 1");
        if (orchestrators < 1) throw new IllegalArgumentException("--orchestrators must be at least 1");
        if (routers < 1) throw new IllegalArgumentException("--routers must be at least 1");
        int experts = ModelConfig.load(model).nRoutedExperts();
        // refuses a split that cannot be made, before anything starts; none: the attention service computes the experts
        if (expertServices > 0) LocalMesh.slice(0, expertServices, experts);
        List<Integer> attentionPorts = new ArrayList<>(List.of(ports.attention()));
        while (attentionPorts.size() < attentionServices) attentionPorts.add(LocalMesh.freePort());
        List<String> attentionAddresses = attentionPorts.stream().map(p -> "localhost:" + p).toList();
        LocalMesh.Service broker = null;
        List<LocalMesh.Service> doors = new ArrayList<>();
        List<String> joinExperts = List.of();
        List<String> joinAttention = List.of();
        String controlPlane = null;
        if (ports.frontDoors()) {
            broker = mesh.startBroker("kafka", home.resolve("kafka"), ports.broker(), READY);
            report.printf("kafka                 %-15s  pid %-7d  log %s%n", broker.address(), broker.process().pid(),
                    broker.log());
            // the first placement waits for the expert services still starting, rather than loading every expert
            // onto the first to register; several orchestrators elect the one that leads the control plane
            List<String> orchestratorProperties = new ArrayList<>(List.of("-Dorchestrator.control-plane.settle-time=60s"));
            if (orchestrators > 1) orchestratorProperties.add("-Dorchestrator.control-plane.election=kafka");
            LocalMesh.Service orchestrator = mesh.startOrchestrator("orchestrator", model, broker.address(),
                    attentionAddresses, ports.orchestratorHttp(), ports.controlPlane(), orchestratorProperties, READY);
            doors.add(orchestrator);
            List<String> controlPlanes = new ArrayList<>(List.of("localhost:" + ports.controlPlane()));
            report.printf("orchestrator          %-15s  pid %-7d  log %s  (inference.requests -> inference.responses;"
                    + " control plane on %s)%n", orchestrator.address(), orchestrator.process().pid(), orchestrator.log(),
                    controlPlanes.get(0));
            for (int i = 2; i <= orchestrators; i++) {
                int controlPlanePort = LocalMesh.freePort();
                LocalMesh.Service more = mesh.startOrchestrator("orchestrator-" + i, model, broker.address(),
                        attentionAddresses, LocalMesh.freePort(), controlPlanePort, orchestratorProperties, READY);
                doors.add(more);
                controlPlanes.add("localhost:" + controlPlanePort);
                report.printf("orchestrator-%-8d %-15s  pid %-7d  log %s  (a Kafka door of the same consumer group;"
                        + " control plane on localhost:%d, standing by while another leads)%n", i, more.address(),
                        more.process().pid(), more.log(), controlPlanePort);
            }
            controlPlane = String.join(",", controlPlanes);
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
        List<LocalMesh.Service> attentions = new ArrayList<>();
        for (int i = 0; i < attentionServices; i++) {
            String name = i == 0 ? "attention-service" : "attention-service-" + (i + 1);
            LocalMesh.Service attention = mesh.startAttentionService(name, model, addresses, attentionPorts.get(i),
                    props, READY);
            mesh.awaitHealthReady(attention, READY);
            attentions.add(attention);
            report.printf("%-21s %-15s  pid %-7d  log %s%n", name, attention.address(), attention.process().pid(),
                    attention.log());
        }
        if (ports.frontDoors() && expertServices > 0) {
            // the redundancy the control plane got: the placement the attention service became ready with, or newer
            report.printf("redundancy            %s%n", Redundancy.of(Redundancy.current("localhost:" + ports.controlPlane(),
                    ModelFingerprint.of(model), mesh.channels()), ModelConfig.load(model)).line());
        }
        if (broker == null) return new MeshProcesses(null, started, attentions, List.of(), List.of());
        List<LocalMesh.Service> routerServices = new ArrayList<>();
        for (int i = 0; i < routers; i++) {
            String name = i == 0 ? "router-service" : "router-service-" + (i + 1);
            // members of the control plane, so that the routers share each API key's bounds
            LocalMesh.Service router = mesh.startRouter(name, model, attentionAddresses,
                    i == 0 ? ports.routerGrpc() : LocalMesh.freePort(), i == 0 ? ports.routerHttp() : LocalMesh.freePort(),
                    List.of("-Drouter.control-plane=" + controlPlane, "-Drouter.instance-id=" + name),
                    READY);
            routerServices.add(router);
            report.printf("%-21s %-15s  pid %-7d  log %s  (REST on http://localhost:%d/v1)%n", name, router.address(),
                    router.process().pid(), router.log(), router.httpPort());
        }
        return new MeshProcesses(broker, started, attentions, doors, routerServices);
    }

    /** The first router's REST root. */
    String restBase() {
        return restBase(router());
    }

    static String restBase(LocalMesh.Service router) {
        return "http://localhost:" + router.httpPort();
    }
}
