package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import io.kubernetes.client.openapi.JSON;
import io.kubernetes.client.openapi.models.V1ConfigMap;
import io.kubernetes.client.openapi.models.V1Deployment;
import io.kubernetes.client.openapi.models.V1Namespace;
import io.kubernetes.client.openapi.models.V1PersistentVolumeClaim;
import io.kubernetes.client.openapi.models.V1PodDisruptionBudget;
import io.kubernetes.client.openapi.models.V1Service;
import io.kubernetes.client.openapi.models.V2HorizontalPodAutoscaler;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Checks objects of built-in kinds against the Kubernetes API's schema, through the official Kubernetes Java
 * client's models (io.kubernetes:client-java-api, generated from the API's OpenAPI spec): each model's
 * {@code fromJson} refuses a field the schema does not have and a required field that is missing, at every depth,
 * and reading it checks each value's type (quantities, int-or-string); a second pass catches what the reader
 * converts silently, a string where the schema has a number or a boolean.
 */
final class KubernetesSchemas {
    /** apiVersion/kind → model; a kind not here has no schema in this test and is refused. */
    private static final Map<String, Class<?>> MODELS = Map.of(
            "v1/Namespace", V1Namespace.class,
            "v1/ConfigMap", V1ConfigMap.class,
            "v1/Service", V1Service.class,
            "v1/PersistentVolumeClaim", V1PersistentVolumeClaim.class,
            "apps/v1/Deployment", V1Deployment.class,
            "policy/v1/PodDisruptionBudget", V1PodDisruptionBudget.class,
            "autoscaling/v2/HorizontalPodAutoscaler", V2HorizontalPodAutoscaler.class);

    private KubernetesSchemas() {
    }

    static boolean knows(JsonNode object) {
        return MODELS.containsKey(type(object));
    }

    /** Problems of one object against its kind's schema, each naming the object; empty when it conforms. */
    static List<String> problems(JsonNode object) {
        Class<?> model = MODELS.get(type(object));
        if (model == null) return List.of(Yaml.id(object) + ": no schema for " + type(object) + " in this test");
        return problems(object, model, Yaml.id(object));
    }

    /** Problems of {@code value} against {@code model}: a whole object, or a part of one such as a KEDA field. */
    static List<String> problems(JsonNode value, Class<?> model, String where) {
        Object parsed;
        try {
            parsed = model.getMethod("fromJson", String.class).invoke(null, value.toString());
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            while (cause.getCause() != null && cause.getMessage() == null) cause = cause.getCause();
            return List.of(where + ": not a valid " + model.getSimpleName() + ": " + cause.getMessage());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(model + " has no fromJson(String)", e);
        }
        List<String> problems = new ArrayList<>();
        typeMismatches(value, Yaml.tree(JSON.serialize(parsed), model.getSimpleName()), "", where, problems);
        return problems;
    }

    /** Where the model wrote a number or a boolean back, the manifest must have had one, not a string. */
    private static void typeMismatches(JsonNode manifest, JsonNode readBack, String path, String where,
                                       List<String> problems) {
        if (readBack.isObject() && manifest.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = readBack.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (manifest.has(e.getKey())) {
                    typeMismatches(manifest.get(e.getKey()), e.getValue(), path + "." + e.getKey(), where, problems);
                }
            }
        } else if (readBack.isArray() && manifest.isArray()) {
            for (int i = 0; i < Math.min(readBack.size(), manifest.size()); i++) {
                typeMismatches(manifest.get(i), readBack.get(i), path + "[" + i + "]", where, problems);
            }
        } else if ((readBack.isNumber() || readBack.isBoolean()) && manifest.isTextual()) {
            problems.add(where + ": " + path.substring(1) + " is the string \"" + manifest.asText()
                    + "\" where the API has a " + (readBack.isNumber() ? "number" : "boolean"));
        }
    }

    private static String type(JsonNode object) {
        return object.path("apiVersion").asText() + "/" + object.path("kind").asText();
    }
}
