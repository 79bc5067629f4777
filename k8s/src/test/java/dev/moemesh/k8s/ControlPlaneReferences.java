package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The services join the orchestrator's control plane as docs/control-plane.md says they must: every expert and
 * attention service names the orchestrator's gRPC port through a Service of the build, all the same one; each
 * pod registers under its own name and advertises its own IP with its gRPC port; an attention service that takes
 * the placement has no fixed list of expert services beside it; an expert pod's termination grace outlasts its
 * drain; the orchestrator runs exactly one replica; and its Service publishes the pod before it is ready (its
 * readiness is the Kafka door's, the control plane serves without the broker).
 */
final class ControlPlaneReferences {
    /** The module whose gRPC port serves the ControlPlane. */
    private static final String ORCHESTRATOR = "orchestrator";
    /** {@code $(VAR):port}: a variable of the container, then the port. */
    private static final Pattern POD_ADDRESS = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\):(\\d+)");
    /**
     * What an expert service needs beyond its drain before it exits: up to 5 s for a control-plane call in flight
     * when the stop comes (ControlPlaneMember's call deadline), then stopping its servers.
     */
    private static final Duration STOP_MARGIN = Duration.ofSeconds(10);

    private final BuildIndex build;
    /** Service id and port of each control plane named, → the first variable that names it. */
    private final Map<String, String> controlPlanes = new LinkedHashMap<>();
    /** Deployments that serve a control plane some service names. */
    private final Map<String, JsonNode> orchestrators = new TreeMap<>();

    private ControlPlaneReferences(BuildIndex build) {
        this.build = build;
    }

    static void check(BuildIndex build) {
        ControlPlaneReferences r = new ControlPlaneReferences(build);
        for (JsonNode d : build.all("Deployment")) {
            for (JsonNode c : d.path("spec").path("template").path("spec").path("containers")) {
                build.service(c).ifPresent(config -> r.checkMember(d, c, config));
            }
        }
        if (r.controlPlanes.size() > 1) {
            build.problem("the services name different control planes: " + r.controlPlanes.values());
        }
        r.orchestrators.values().forEach(r::checkOneReplica);
    }

    /** A service that can join the control plane ({@code <prefix>.control-plane} is a setting) does, rightly. */
    private void checkMember(JsonNode d, JsonNode c, ServiceConfig config) {
        Optional<String> prefix = config.keys().filter(k -> k.matches("[a-z]+\\.control-plane"))
                .map(k -> k.substring(0, k.indexOf('.'))).findFirst();
        if (prefix.isEmpty()) return;
        String p = prefix.get();
        String where = Yaml.id(d) + " container " + c.path("name").asText();
        String controlPlane = ServiceConfig.envName(p + ".control-plane");
        Optional<JsonNode> target = BuildIndex.variable(c, controlPlane);
        if (target.isEmpty()) {
            build.problem(where + ": " + controlPlane + " is unset: the pods would not join the control plane, which"
                    + " alone places the experts and tells the attention services where they are");
        } else {
            build.envValue(d, target.get()).ifPresent(v -> checkControlPlane(d, where + " " + controlPlane, v));
        }
        checkInstanceId(where, c, ServiceConfig.envName(p + ".instance-id"));
        build.setting(d, c, config, "quarkus.grpc.server.port")
                .ifPresent(port -> checkAdvertisedAddress(d, where, c, ServiceConfig.envName(p + ".advertised-address"),
                        port));
        String list = ServiceConfig.envName(p + ".expert-services");
        if (config.has(p + ".expert-services") && BuildIndex.variable(c, list).isPresent()) {
            build.problem(where + ": " + list + " is set beside " + controlPlane + ": once the control plane places"
                    + " experts, the replicas behind one address no longer hold the same experts");
        }
        if (config.has(p + ".drain-timeout")) {
            build.setting(d, c, config, p + ".drain-timeout").ifPresent(t -> checkGrace(d, where, t));
        }
    }

    /** {@code host:port}: a Service of the build whose port leads to the orchestrator's gRPC port. */
    private void checkControlPlane(JsonNode from, String where, String address) {
        Optional<BuildIndex.ServicePort> named = build.servicePort(from, where, address);
        if (named.isEmpty()) return;
        ObjectNode service = named.get().service();
        JsonNode port = named.get().port();
        JsonNode targetPort = port.has("targetPort") ? port.get("targetPort") : port.get("port");
        boolean found = false;
        for (ObjectNode d : build.selected(service, service.path("spec").path("selector"))) {
            for (JsonNode c : d.path("spec").path("template").path("spec").path("containers")) {
                Optional<ServiceConfig> config = build.service(c);
                if (config.isEmpty() || !config.get().module().equals(ORCHESTRATOR)) continue;
                Optional<String> grpc = build.setting(d, c, config.get(), "quarkus.grpc.server.port");
                Optional<JsonNode> declared = BuildIndex.containerPort(c, targetPort);
                if (grpc.isPresent() && declared.isPresent()
                        && declared.get().path("containerPort").asText().equals(grpc.get())) {
                    found = true;
                    orchestrators.put(Yaml.id(d), d);
                }
            }
        }
        String name = service.path("metadata").path("name").asText();
        if (found && !service.path("spec").path("publishNotReadyAddresses").asBoolean(false)) {
            build.problem(where + ": Service " + name + " does not set publishNotReadyAddresses: the control plane"
                    + " would be out of reach whenever the orchestrator is not ready, which is while its Kafka door"
                    + " waits for the broker");
        }
        if (!found) {
            build.problem(where + ": port " + port.path("port").asText() + " of Service " + name + " does not lead"
                    + " to the gRPC port (quarkus.grpc.server.port) of an " + ORCHESTRATOR + " container");
        } else {
            controlPlanes.putIfAbsent(Yaml.id(service) + " port " + port.path("port").asText(), where);
        }
    }

    /** Unset (the pod's host name and port) or the pod's name: never one name for every replica. */
    private void checkInstanceId(String where, JsonNode c, String name) {
        BuildIndex.variable(c, name).ifPresent(e -> {
            if (!e.path("valueFrom").path("fieldRef").path("fieldPath").asText().equals("metadata.name")) {
                build.problem(where + ": " + name + " is not the pod's name (valueFrom.fieldRef metadata.name):"
                        + " replicas of one Deployment would register under one name");
            }
        });
    }

    /** {@code $(VAR):<gRPC port>} where VAR, defined before it, is the pod's IP. */
    private void checkAdvertisedAddress(JsonNode d, String where, JsonNode c, String name, String grpcPort) {
        Optional<JsonNode> e = BuildIndex.variable(c, name);
        String value = e.flatMap(v -> build.envValue(d, v)).orElse("");
        Matcher m = POD_ADDRESS.matcher(value);
        if (!m.matches()) {
            build.problem(where + ": " + name + " is '" + (e.isEmpty() ? "unset" : value) + "'; others reach the pod"
                    + " at its own IP: $(POD_IP):" + grpcPort + ", POD_IP from valueFrom.fieldRef status.podIP");
            return;
        }
        String ipField = "";
        for (JsonNode v : c.path("env")) {
            if (v.path("name").asText().equals(name)) break;
            if (v.path("name").asText().equals(m.group(1))) {
                ipField = v.path("valueFrom").path("fieldRef").path("fieldPath").asText();
            }
        }
        if (!ipField.equals("status.podIP")) {
            build.problem(where + ": " + name + " uses $(" + m.group(1) + "), which is not a variable before it"
                    + " from valueFrom.fieldRef status.podIP");
        }
        if (!m.group(2).equals(grpcPort)) {
            build.problem(where + ": " + name + " advertises port " + m.group(2) + ", not the gRPC port " + grpcPort);
        }
    }

    /** Kubernetes waits terminationGracePeriodSeconds (default 30) after SIGTERM, then kills the container. */
    private void checkGrace(JsonNode d, String where, String drainTimeout) {
        Duration drain = quarkusDuration(drainTimeout);
        long grace = d.path("spec").path("template").path("spec").path("terminationGracePeriodSeconds").asLong(30);
        if (grace < drain.plus(STOP_MARGIN).toSeconds()) {
            build.problem(where + ": terminationGracePeriodSeconds " + grace + " is shorter than the drain ("
                    + drainTimeout + ") and " + STOP_MARGIN.toSeconds() + " s to stop: the pod would be killed"
                    + " before the control plane has moved its experts");
        }
    }

    /** Membership and the placement live in one orchestrator's memory; without it nothing is placed. */
    private void checkOneReplica(JsonNode d) {
        BuildIndex.Replicas r = build.replicas(d);
        if (r.min() < 1) {
            build.problem(Yaml.id(d) + ": may scale to 0 replicas, but it is the control plane the services"
                    + " register with and take the placement from");
        }
        if (r.max() > 1) {
            build.problem(Yaml.id(d) + ": may run " + r.max() + " replicas, but the control plane's membership and"
                    + " placement live in one orchestrator's memory");
        }
    }

    /** Quarkus' duration syntax: seconds as a number, {@code 500ms}, {@code 2d}, else ISO-8601 with PT implied. */
    static Duration quarkusDuration(String value) {
        String v = value.trim();
        if (v.matches("\\d+")) return Duration.ofSeconds(Long.parseLong(v));
        if (v.matches("\\d+ms")) return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
        if (v.matches("\\d+[dD]")) return Duration.ofDays(Long.parseLong(v.substring(0, v.length() - 1)));
        return Duration.parse(v.startsWith("P") || v.startsWith("p") ? v : "PT" + v);
    }
}
