package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Deployments, Services and disruption budgets fit together and fit the services' code: selectors find pods;
 * probes, target ports and scrape annotations name ports the containers have, and those are the ports the
 * services listen on; referenced ConfigMaps, keys and claims exist, and the model claim is mounted read-only;
 * every environment variable of a mesh container is a setting of its service (or builds one's value, as
 * {@code $(POD_IP)} does), and every {@code $(NAME)} names a variable defined before it; the addresses in the
 * {@code *_SERVICES} settings are Services of the build.
 */
final class WorkloadReferences {
    /** Not settings of the service, read by the JVM itself. */
    private static final Set<String> JVM_VARIABLES = Set.of("JAVA_TOOL_OPTIONS");

    private final BuildIndex build;

    private WorkloadReferences(BuildIndex build) {
        this.build = build;
    }

    static void check(BuildIndex build) {
        WorkloadReferences w = new WorkloadReferences(build);
        for (JsonNode d : build.all("Deployment")) w.checkDeployment(d);
        for (JsonNode s : build.all("Service")) w.checkService(s);
        for (JsonNode p : build.all("PodDisruptionBudget")) {
            w.checkSelects(p, p.path("spec").path("selector").path("matchLabels"));
        }
    }

    private void checkDeployment(JsonNode d) {
        String id = Yaml.id(d);
        JsonNode pod = d.path("spec").path("template");
        JsonNode selector = d.path("spec").path("selector").path("matchLabels");
        if (!BuildIndex.contains(pod.path("metadata").path("labels"), selector)) {
            build.problem(id + ": spec.selector does not match its own pod template's labels");
        }
        Map<String, Boolean> volumes = new TreeMap<>(); // name → is the model claim
        for (JsonNode v : pod.path("spec").path("volumes")) {
            volumes.put(v.path("name").asText(), v.has("persistentVolumeClaim"));
            if (v.has("persistentVolumeClaim")) {
                String claim = v.path("persistentVolumeClaim").path("claimName").asText();
                if (build.find(d, "PersistentVolumeClaim", claim).isEmpty()) {
                    build.problem(id + ": volume " + v.path("name").asText() + " claims " + claim
                            + ", which is not in the build");
                }
                // the model is mounted read-only everywhere (docs/kubernetes.md)
                if (!v.path("persistentVolumeClaim").path("readOnly").asBoolean()) {
                    build.problem(id + ": volume " + v.path("name").asText() + " mounts claim " + claim + " writable");
                }
            }
            if (v.has("configMap") && build.find(d, "ConfigMap", v.path("configMap").path("name").asText()).isEmpty()) {
                build.problem(id + ": volume " + v.path("name").asText()
                        + " names a ConfigMap that is not in the build");
            }
        }
        for (JsonNode c : pod.path("spec").path("containers")) {
            String where = id + " container " + c.path("name").asText();
            for (JsonNode m : c.path("volumeMounts")) {
                Boolean claim = volumes.get(m.path("name").asText());
                if (claim == null) {
                    build.problem(where + ": mounts volume " + m.path("name").asText()
                            + ", which the pod does not have");
                } else if (claim && !m.path("readOnly").asBoolean()) {
                    build.problem(where + ": mounts " + m.path("mountPath").asText()
                            + " writable; the model volume is read-only");
                }
            }
            for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
                JsonNode p = c.path(probe);
                JsonNode port = p.has("httpGet") ? p.path("httpGet").path("port") : p.path("tcpSocket").path("port");
                if (!p.isMissingNode() && BuildIndex.containerPort(c, port).isEmpty()) {
                    build.problem(where + ": " + probe + " port " + port.asText() + " is not a port of the container");
                }
            }
            for (JsonNode e : c.path("env")) checkEnvReference(d, where, e);
            checkVariableReferences(where, c.path("env"));
            for (JsonNode e : c.path("envFrom")) {
                if (e.has("configMapRef") && !e.path("configMapRef").path("optional").asBoolean()
                        && build.find(d, "ConfigMap", e.path("configMapRef").path("name").asText()).isEmpty()) {
                    build.problem(where + ": envFrom names ConfigMap " + e.path("configMapRef").path("name").asText()
                            + ", which is not in the build");
                }
            }
            build.service(c).ifPresent(config -> checkServiceContainer(d, pod, c, where, config));
        }
    }

    /** A container of one of the mesh's services: its settings, ports, probes and addresses against its module. */
    private void checkServiceContainer(JsonNode d, JsonNode pod, JsonNode c, String where, ServiceConfig config) {
        Set<String> referenced = new HashSet<>();
        for (JsonNode e : c.path("env")) {
            BuildIndex.VARIABLE_REFERENCE.matcher(e.path("value").asText("")).results()
                    .forEach(r -> referenced.add(r.group(1)));
        }
        for (JsonNode e : c.path("env")) {
            String name = e.path("name").asText();
            // a variable that only builds another's value, as POD_IP does the advertised address, is no setting
            if (!JVM_VARIABLES.contains(name) && !referenced.contains(name) && config.keyOf(name).isEmpty()
                    && !CertificateReferences.isMeshTlsVariable(build.repo(), config.module(), name)) {
                build.problem(where + ": " + name + " is not a setting of " + config.module()
                        + " (no such @ConfigMapping key or application.properties key)");
            }
        }
        Map<String, String> expectedPorts = new TreeMap<>();
        build.setting(d, c, config, "quarkus.http.port").ifPresent(p -> expectedPorts.put("http", p));
        build.setting(d, c, config, "quarkus.grpc.server.port").ifPresent(p -> expectedPorts.put("grpc", p));
        expectedPorts.forEach((portName, port) -> {
            Optional<JsonNode> declared = BuildIndex.containerPort(c, Yaml.MAPPER.getNodeFactory().textNode(portName));
            if (declared.isEmpty()) {
                build.problem(where + ": no container port named " + portName + " (" + config.module()
                        + " listens on " + port + ")");
            } else if (!declared.get().path("containerPort").asText().equals(port)) {
                build.problem(where + ": port " + portName + " is " + declared.get().path("containerPort").asText()
                        + " but " + config.module() + " listens on " + port);
            }
        });
        Map<String, String> paths = Map.of("startupProbe", "/q/health/live", "livenessProbe", "/q/health/live",
                "readinessProbe", "/q/health/ready");
        paths.forEach((probe, path) -> {
            JsonNode get = c.path(probe).path("httpGet");
            if (get.isMissingNode()) {
                build.problem(where + ": no " + probe + " on " + path);
            } else if (!get.path("path").asText().equals(path) || !get.path("port").asText().equals("http")) {
                build.problem(where + ": " + probe + " is " + get.path("path").asText() + " on port "
                        + get.path("port").asText() + ", not " + path + " on port http");
            }
        });
        JsonNode annotations = pod.path("metadata").path("annotations");
        if (annotations.has("prometheus.io/port") && !annotations.path("prometheus.io/port").asText()
                .equals(expectedPorts.get("http"))) {
            build.problem(where + ": prometheus.io/port is " + annotations.path("prometheus.io/port").asText()
                    + ", not the HTTP port " + expectedPorts.get("http"));
        }
        for (JsonNode e : c.path("env")) {
            if (!e.path("name").asText().endsWith("_SERVICES")) continue;
            build.envValue(d, e).ifPresent(list -> {
                for (String address : list.split(",")) {
                    build.servicePort(d, where + " " + e.path("name").asText(), address.trim());
                }
            });
        }
    }

    /** Kubernetes replaces {@code $(NAME)} only when NAME is defined before it; else the text stays as it is. */
    private void checkVariableReferences(String where, JsonNode env) {
        Set<String> defined = new HashSet<>();
        for (JsonNode e : env) {
            String name = e.path("name").asText();
            BuildIndex.VARIABLE_REFERENCE.matcher(e.path("value").asText("")).results().map(r -> r.group(1))
                    .filter(v -> !defined.contains(v)).forEach(v -> build.problem(where + ": " + name
                            + " refers to $(" + v + "), which no variable before it defines; Kubernetes would pass"
                            + " the text as it is"));
            defined.add(name);
        }
    }

    private void checkEnvReference(JsonNode d, String where, JsonNode e) {
        JsonNode ref = e.path("valueFrom").path("configMapKeyRef");
        if (ref.isMissingNode() || ref.path("optional").asBoolean()) return;
        Optional<JsonNode> map = build.find(d, "ConfigMap", ref.path("name").asText());
        if (map.isEmpty()) {
            build.problem(where + ": " + e.path("name").asText() + " reads ConfigMap " + ref.path("name").asText()
                    + ", which is not in the build");
        } else if (!map.get().path("data").has(ref.path("key").asText())) {
            build.problem(where + ": " + e.path("name").asText() + " reads key " + ref.path("key").asText()
                    + " of ConfigMap " + ref.path("name").asText() + ", which has no such key");
        }
    }

    private void checkService(JsonNode s) {
        List<ObjectNode> pods = checkSelects(s, s.path("spec").path("selector"));
        for (JsonNode port : s.path("spec").path("ports")) {
            JsonNode target = port.has("targetPort") ? port.get("targetPort") : port.get("port");
            for (JsonNode d : pods) {
                boolean found = false;
                for (JsonNode c : d.path("spec").path("template").path("spec").path("containers")) {
                    found |= BuildIndex.containerPort(c, target).isPresent();
                }
                if (!found) {
                    build.problem(Yaml.id(s) + ": targetPort " + target.asText() + " is not a container port of "
                            + Yaml.id(d));
                }
            }
        }
    }

    /** The Deployments whose pods {@code selector} selects; a problem when none (or the selector is empty). */
    private List<ObjectNode> checkSelects(JsonNode object, JsonNode selector) {
        if (selector.isEmpty()) {
            build.problem(Yaml.id(object) + ": empty selector");
            return List.of();
        }
        List<ObjectNode> selected = build.selected(object, selector);
        if (selected.isEmpty()) {
            build.problem(Yaml.id(object) + ": selector " + selector + " matches no Deployment's pods");
        }
        return selected;
    }
}
