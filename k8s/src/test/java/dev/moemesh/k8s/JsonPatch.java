package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** RFC 6902 JSON Patch, the operations the manifests use: {@code add}, {@code replace} and {@code remove}. */
final class JsonPatch {
    private JsonPatch() {
    }

    static JsonNode apply(JsonNode document, JsonNode operations, String source) {
        if (!operations.isArray()) {
            throw new IllegalArgumentException(source + ": a JSON patch is a list of operations");
        }
        JsonNode doc = document.deepCopy();
        for (JsonNode op : operations) {
            String kind = op.path("op").asText();
            String path = op.path("path").asText(null);
            if (path == null || !path.startsWith("/")) {
                throw new IllegalArgumentException(source + ": operation " + op + " has no path like /spec/...");
            }
            String[] steps = path.substring(1).split("/", -1);
            JsonNode parent = doc;
            for (int i = 0; i < steps.length - 1; i++) {
                parent = child(parent, unescape(steps[i]));
                if (parent == null) throw new IllegalArgumentException(source + ": " + path + " does not exist (at "
                        + steps[i] + ")");
            }
            String last = unescape(steps[steps.length - 1]);
            switch (kind) {
                case "add" -> put(parent, last, value(op, source), true, path, source);
                case "replace" -> put(parent, last, value(op, source), false, path, source);
                case "remove" -> remove(parent, last, path, source);
                default -> throw new IllegalArgumentException(source + ": operation '" + kind
                        + "' is not supported here (add, replace, remove)");
            }
        }
        return doc;
    }

    private static JsonNode value(JsonNode op, String source) {
        JsonNode v = op.get("value");
        if (v == null) throw new IllegalArgumentException(source + ": operation " + op + " has no value");
        return v.deepCopy();
    }

    private static JsonNode child(JsonNode node, String step) {
        if (node.isObject()) return node.get(step);
        if (node.isArray() && step.matches("\\d+")) return node.get(Integer.parseInt(step));
        return null;
    }

    private static void put(JsonNode parent, String step, JsonNode value, boolean add, String path, String source) {
        if (parent.isObject()) {
            if (!add && !parent.has(step)) throw new IllegalArgumentException(source + ": cannot replace " + path
                    + ": it does not exist");
            ((ObjectNode) parent).set(step, value);
        } else if (parent.isArray()) {
            ArrayNode array = (ArrayNode) parent;
            if (add && step.equals("-")) {
                array.add(value);
                return;
            }
            int index = index(array, step, add ? array.size() : array.size() - 1, path, source);
            if (add) array.insert(index, value);
            else array.set(index, value);
        } else {
            throw new IllegalArgumentException(source + ": " + path + ": its parent is not an object or a list");
        }
    }

    private static void remove(JsonNode parent, String step, String path, String source) {
        if (parent.isObject() && parent.has(step)) ((ObjectNode) parent).remove(step);
        else if (parent.isArray()) ((ArrayNode) parent).remove(index((ArrayNode) parent, step, parent.size() - 1, path,
                source));
        else throw new IllegalArgumentException(source + ": cannot remove " + path + ": it does not exist");
    }

    private static int index(ArrayNode array, String step, int max, String path, String source) {
        if (!step.matches("\\d+") || Integer.parseInt(step) > max) {
            throw new IllegalArgumentException(source + ": " + path + ": no index " + step + " in a list of "
                    + array.size());
        }
        return Integer.parseInt(step);
    }

    private static String unescape(String step) {
        return step.replace("~1", "/").replace("~0", "~");
    }
}
