package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V2HorizontalPodAutoscalerBehavior;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks KEDA ScaledObjects (keda.sh/v1alpha1), a custom resource whose schema no library here carries: the
 * fields of KEDA 2's ScaledObject specification and of its prometheus scaler, written out from KEDA's
 * documentation. Unknown fields are refused, as for built-in kinds; the HPA behaviour under {@code advanced} is
 * KEDA's copy of the HPA's and is checked against the Kubernetes schema. A field or trigger type that the
 * manifests start to use must be added here, after reading KEDA's documentation for it.
 */
final class KedaScaledObjects {
    private static final Set<String> SPEC = Set.of("scaleTargetRef", "pollingInterval", "cooldownPeriod",
            "initialCooldownPeriod", "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback",
            "advanced", "triggers");
    private static final Set<String> COUNTS = Set.of("pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
            "idleReplicaCount", "minReplicaCount", "maxReplicaCount");
    private static final Set<String> TARGET = Set.of("apiVersion", "kind", "name", "envSourceContainerName");
    private static final Set<String> ADVANCED = Set.of("horizontalPodAutoscalerConfig",
            "restoreToOriginalReplicaCount");
    private static final Set<String> HPA_CONFIG = Set.of("name", "behavior");
    private static final Set<String> TRIGGER = Set.of("type", "name", "metadata", "metricType", "useCachedMetrics");

    /** A scaler's metadata keys: required, then all it may have (KEDA's scaler pages). */
    private record Scaler(Set<String> required, Set<String> allowed, Set<String> numbers) {
    }

    private static final Map<String, Scaler> SCALERS = Map.of(
            "prometheus", new Scaler(Set.of("serverAddress", "query", "threshold"),
                    Set.of("serverAddress", "query", "threshold", "activationThreshold", "ignoreNullValues",
                            "unsafeSsl", "queryParameters", "customHeaders"),
                    Set.of("threshold", "activationThreshold")));

    private KedaScaledObjects() {
    }

    static boolean isScaledObject(JsonNode object) {
        return "keda.sh/v1alpha1".equals(object.path("apiVersion").asText())
                && "ScaledObject".equals(object.path("kind").asText());
    }

    static List<String> problems(JsonNode object) {
        String where = Yaml.id(object);
        List<String> problems = new ArrayList<>();
        only(object, Set.of("apiVersion", "kind", "metadata", "spec"), "", where, problems);
        if (object.path("metadata").path("name").asText("").isEmpty()) {
            problems.add(where + ": metadata.name is required");
        }
        problems.addAll(KubernetesSchemas.problems(object.path("metadata"),
                V1ObjectMeta.class, where + " metadata"));
        JsonNode spec = object.path("spec");
        only(spec, SPEC, "spec.", where, problems);
        for (String count : COUNTS) {
            if (spec.has(count) && !(spec.get(count).isInt() && spec.get(count).asInt() >= 0)) {
                problems.add(where + ": spec." + count + " must be a whole number ≥ 0, not " + spec.get(count));
            }
        }
        if (spec.path("minReplicaCount").asInt(0) > spec.path("maxReplicaCount").asInt(100)) {
            problems.add(where + ": spec.minReplicaCount is above spec.maxReplicaCount");
        }
        JsonNode target = spec.path("scaleTargetRef");
        only(target, TARGET, "spec.scaleTargetRef.", where, problems);
        if (target.path("name").asText("").isEmpty()) problems.add(where + ": spec.scaleTargetRef.name is required");
        JsonNode advanced = spec.path("advanced");
        only(advanced, ADVANCED, "spec.advanced.", where, problems);
        JsonNode hpa = advanced.path("horizontalPodAutoscalerConfig");
        only(hpa, HPA_CONFIG, "spec.advanced.horizontalPodAutoscalerConfig.", where, problems);
        if (hpa.has("behavior")) {
            problems.addAll(KubernetesSchemas.problems(hpa.get("behavior"), V2HorizontalPodAutoscalerBehavior.class,
                    where + " spec.advanced.horizontalPodAutoscalerConfig.behavior"));
        }
        JsonNode triggers = spec.path("triggers");
        if (!triggers.isArray() || triggers.isEmpty()) {
            problems.add(where + ": spec.triggers needs at least one trigger");
        }
        for (int i = 0; i < triggers.size(); i++) {
            trigger(triggers.get(i), "spec.triggers[" + i + "].", where, problems);
        }
        return problems;
    }

    private static void trigger(JsonNode trigger, String path, String where, List<String> problems) {
        only(trigger, TRIGGER, path, where, problems);
        String type = trigger.path("type").asText("");
        Scaler scaler = SCALERS.get(type);
        if (scaler == null) {
            problems.add(where + ": " + path + "type '" + type + "' is not one this test knows " + SCALERS.keySet());
            return;
        }
        JsonNode metadata = trigger.path("metadata");
        only(metadata, scaler.allowed(), path + "metadata.", where, problems);
        for (String key : scaler.required()) {
            if (metadata.path(key).asText("").isBlank()) {
                problems.add(where + ": " + path + "metadata." + key + " is required");
            }
        }
        metadata.fields().forEachRemaining(e -> {
            if (!e.getValue().isTextual()) {
                problems.add(where + ": " + path + "metadata." + e.getKey() + " must be a string (quote it), not "
                        + e.getValue());
            } else if (scaler.numbers().contains(e.getKey()) && !e.getValue().asText().matches("\\d+(\\.\\d+)?")) {
                problems.add(where + ": " + path + "metadata." + e.getKey() + " must be a number, not '"
                        + e.getValue().asText() + "'");
            }
        });
    }

    private static void only(JsonNode node, Set<String> allowed, String path, String where, List<String> problems) {
        node.fieldNames().forEachRemaining(f -> {
            if (!allowed.contains(f)) {
                problems.add(where + ": field " + path + f + " is not in the ScaledObject schema");
            }
        });
    }
}
