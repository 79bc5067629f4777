package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/** The objects of one build, looked up the way the reference checks need, and the problems they find. */
final class BuildIndex {
    /** {@code $(NAME)} in an env value: Kubernetes puts in the value of the variable NAME ({@code $$} escapes). */
    static final Pattern VARIABLE_REFERENCE = Pattern.compile("(?<!\\$)\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");
    /** Images of the mesh's own services: {@code moe-mesh/<module>:<tag>}. */
    private static final String IMAGE_PREFIX = "moe-mesh/";

    private final List<ObjectNode> objects;
    private final Path repo;
    private final Map<String, ServiceConfig> configs = new HashMap<>();
    private final List<String> problems = new ArrayList<>();

    BuildIndex(List<ObjectNode> objects, Path repo) {
        this.objects = objects;
        this.repo = repo;
    }

    void problem(String problem) {
        problems.add(problem);
    }

    List<String> problems() {
        return problems;
    }

    /** The repository whose services the build runs. */
    Path repo() {
        return repo;
    }

    List<ObjectNode> objects() {
        return objects;
    }

    /** The variable {@code name} of a Deployment's (first and only) container. */
    Optional<JsonNode> env(JsonNode d, String name) {
        return variable(d.path("spec").path("template").path("spec").path("containers").path(0), name);
    }

    /** The variable {@code name} of a container. */
    static Optional<JsonNode> variable(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) {
            if (e.path("name").asText().equals(name)) return Optional.of(e);
        }
        return Optional.empty();
    }

    /** The value a container's setting has: its environment variable, else the service's default. */
    Optional<String> setting(JsonNode d, JsonNode c, ServiceConfig config, String key) {
        for (JsonNode e : c.path("env")) {
            if (e.path("name").asText().equals(ServiceConfig.envName(key))) return envValue(d, e);
        }
        return config.defaultOf(key);
    }

    /** An env entry's value: literal, or from a ConfigMap of the build; empty for secrets and missing keys. */
    Optional<String> envValue(JsonNode d, JsonNode e) {
        if (e.has("value")) return Optional.of(e.path("value").asText());
        JsonNode ref = e.path("valueFrom").path("configMapKeyRef");
        if (ref.isMissingNode()) return Optional.empty();
        return find(d, "ConfigMap", ref.path("name").asText()).map(m -> m.path("data").path(ref.path("key").asText()))
                .filter(v -> !v.isMissingNode()).map(JsonNode::asText);
    }

    /** The settings of the mesh service a container runs ({@code moe-mesh/<module>:<tag>}); empty for others. */
    Optional<ServiceConfig> service(JsonNode container) {
        String image = container.path("image").asText();
        if (!image.startsWith(IMAGE_PREFIX)) return Optional.empty();
        String module = image.substring(IMAGE_PREFIX.length()).replaceFirst(":.*$", "");
        try {
            return Optional.of(configs.computeIfAbsent(module, m -> ServiceConfig.of(repo, m)));
        } catch (IllegalArgumentException e) {
            problem("image " + image + ": " + e.getMessage());
            return Optional.empty();
        }
    }

    /** A port of a Service. */
    record ServicePort(ObjectNode service, JsonNode port) {
    }

    /**
     * The Service port that {@code host:port} in {@code from} names (host short, or
     * {@code <service>.<namespace>[.svc...]}); empty, with a problem for {@code where}, where there is none.
     */
    Optional<ServicePort> servicePort(JsonNode from, String where, String address) {
        String[] hostPort = address.split(":");
        if (hostPort.length != 2) {
            problem(where + ": '" + address + "' is not host:port");
            return Optional.empty();
        }
        String[] dns = hostPort[0].split("\\.");
        String namespace = dns.length > 1 ? dns[1] : from.path("metadata").path("namespace").asText("");
        Optional<ObjectNode> service = objects.stream().filter(o -> o.path("kind").asText().equals("Service")
                && o.path("metadata").path("name").asText().equals(dns[0])
                && o.path("metadata").path("namespace").asText("").equals(namespace)).findFirst();
        if (service.isEmpty()) {
            problem(where + ": " + address + " names no Service of the build");
            return Optional.empty();
        }
        for (JsonNode p : service.get().path("spec").path("ports")) {
            if (p.path("port").asText().equals(hostPort[1])) return Optional.of(new ServicePort(service.get(), p));
        }
        problem(where + ": Service " + dns[0] + " has no port " + hostPort[1]);
        return Optional.empty();
    }

    /** The Deployments of its namespace whose pods {@code selector} selects (none for an empty selector). */
    List<ObjectNode> selected(JsonNode object, JsonNode selector) {
        return all("Deployment").stream().filter(d -> sameNamespace(d, object)
                && contains(d.path("spec").path("template").path("metadata").path("labels"), selector)).toList();
    }

    /** The container's port that {@code port} names, by number or by name. */
    static Optional<JsonNode> containerPort(JsonNode container, JsonNode port) {
        for (JsonNode p : container.path("ports")) {
            boolean same = port.isInt() ? p.path("containerPort").asInt() == port.asInt()
                    : p.path("name").asText().equals(port.asText());
            if (same) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** The fewest and the most replicas a Deployment runs. */
    record Replicas(int min, int max) {
    }

    /**
     * Its autoscaler's bounds (an HPA's {@code minReplicas} default 1, a ScaledObject's {@code minReplicaCount}
     * default 0 and {@code maxReplicaCount} default 100, as KEDA's), else its {@code spec.replicas} (default 1).
     */
    Replicas replicas(JsonNode d) {
        String name = d.path("metadata").path("name").asText();
        for (ObjectNode o : objects) {
            if (!sameNamespace(o, d) || !o.path("spec").path("scaleTargetRef").path("name").asText().equals(name)) {
                continue;
            }
            JsonNode spec = o.path("spec");
            if (o.path("kind").asText().equals("HorizontalPodAutoscaler")) {
                return new Replicas(spec.path("minReplicas").asInt(1), spec.path("maxReplicas").asInt());
            }
            if (KedaScaledObjects.isScaledObject(o)) {
                return new Replicas(spec.path("minReplicaCount").asInt(0), spec.path("maxReplicaCount").asInt(100));
            }
        }
        int fixed = d.path("spec").path("replicas").asInt(1);
        return new Replicas(fixed, fixed);
    }

    List<ObjectNode> all(String kind) {
        return objects.stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
    }

    /** The object of this kind and name in the namespace of {@code near}. */
    Optional<JsonNode> find(JsonNode near, String kind, String name) {
        return objects.stream().filter(o -> o.path("kind").asText().equals(kind)
                && o.path("metadata").path("name").asText().equals(name) && sameNamespace(o, near))
                .map(o -> (JsonNode) o).findFirst();
    }

    static boolean sameNamespace(JsonNode a, JsonNode b) {
        return a.path("metadata").path("namespace").asText("").equals(b.path("metadata").path("namespace").asText(""));
    }

    /** True when every label of {@code subset} is in {@code labels}, with the same value. */
    static boolean contains(JsonNode labels, JsonNode subset) {
        if (subset.isEmpty()) return false;
        for (var it = subset.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().asText().equals(labels.path(e.getKey()).asText(null))) return false;
        }
        return true;
    }
}
