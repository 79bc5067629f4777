package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Kubernetes' strategic merge patch, as far as the manifests use it: mappings merge key by key ({@code null}
 * removes a key); the lists below merge item by item on their merge key, the patch's items first, in its order,
 * then the original items it did not name (what kustomize does); any other list is replaced whole.
 */
final class StrategicMerge {
    /**
     * "parent.field" → merge key, from the Kubernetes API's patchMergeKey tags; "containers[]" is an item of a
     * containers list. A list not named here is replaced, as kustomize does for atomic lists and custom resources.
     */
    private static final Map<String, String> MERGE_KEYS = Map.of(
            "spec.containers", "name",
            "spec.initContainers", "name",
            "spec.volumes", "name",
            "containers[].env", "name",
            "containers[].volumeMounts", "mountPath",
            "containers[].ports", "containerPort");

    private StrategicMerge() {
    }

    /** True when the patch deletes the objects it targets ({@code $patch: delete}). */
    static boolean deletes(JsonNode patch) {
        return "delete".equals(patch.path("$patch").asText(null));
    }

    static JsonNode apply(JsonNode original, JsonNode patch) {
        return merge(original, patch, "");
    }

    /** {@code name} is the field that holds these nodes ("containers[]" for an item of containers). */
    private static JsonNode merge(JsonNode original, JsonNode patch, String name) {
        if (!patch.isObject() || original == null || !original.isObject()) return patch.deepCopy();
        ObjectNode out = ((ObjectNode) original).deepCopy();
        for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            JsonNode value = e.getValue();
            JsonNode current = out.get(key);
            if (key.startsWith("$")) {
                throw new IllegalArgumentException("strategic merge directive " + key + " under " + name
                        + " is not supported here (only $patch: delete of a whole object)");
            } else if (value.isNull()) {
                out.remove(key);
            } else if (value.isArray() && current != null && current.isArray()
                    && MERGE_KEYS.containsKey(name + "." + key)) {
                out.set(key, mergeList((ArrayNode) current, (ArrayNode) value, MERGE_KEYS.get(name + "." + key), key));
            } else {
                out.set(key, merge(current, value, key));
            }
        }
        return out;
    }

    private static ArrayNode mergeList(ArrayNode original, ArrayNode patch, String key, String field) {
        ArrayNode out = patch.arrayNode();
        List<JsonNode> rest = new ArrayList<>();
        original.forEach(rest::add);
        for (JsonNode item : patch) {
            JsonNode id = item.get(key);
            if (id == null) throw new IllegalArgumentException("an item of " + field + " in a patch has no " + key);
            JsonNode match = rest.stream().filter(o -> id.equals(o.get(key))).findFirst().orElse(null);
            if (match == null) {
                out.add(item.deepCopy());
            } else {
                rest.remove(match);
                out.add(merge(match, item, field + "[]"));
            }
        }
        rest.forEach(o -> out.add(o.deepCopy()));
        return out;
    }
}
