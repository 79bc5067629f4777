package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The objects of one build, looked up the way the reference checks need, and the problems they find. */
final class BuildIndex {
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

    List<ObjectNode> objects() {
        return objects;
    }

    /** The variable {@code name} of a Deployment's (first and only) container. */
    Optional<JsonNode> env(JsonNode d, String name) {
        for (JsonNode e : d.path("spec").path("template").path("spec").path("containers").path(0).path("env")) {
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

    /** The container's port that {@code port} names, by number or by name. */
    static Optional<JsonNode> containerPort(JsonNode container, JsonNode port) {
        for (JsonNode p : container.path("ports")) {
            boolean same = port.isInt() ? p.path("containerPort").asInt() == port.asInt()
                    : p.path("name").asText().equals(port.asText());
            if (same) return Optional.of(p);
        }
        return Optional.empty();
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
