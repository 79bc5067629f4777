package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * {@code kustomize build} of the features these manifests use, so that every overlay can be built and checked
 * where no kustomize binary is installed: {@code resources} (files and kustomization directories),
 * {@code namespace}, and {@code patches} (inline or from a file; strategic merge, including
 * {@code $patch: delete}, or a JSON 6902 list) with an optional {@code target} (kind, name, labelSelector of
 * {@code key=value} pairs). Any other field of a kustomization is refused by name, so the manifests cannot
 * outgrow this class unnoticed; where kubectl is installed, the tests check that its kustomize builds the same.
 */
final class KustomizeBuild {
    private static final Set<String> FIELDS = Set.of("apiVersion", "kind", "resources", "namespace", "patches");
    private static final Set<String> PATCH_FIELDS = Set.of("path", "patch", "target");
    private static final Set<String> TARGET_FIELDS = Set.of("kind", "name", "labelSelector");
    /** Kinds the namespace transformer leaves alone: those of the manifests that are not namespaced. */
    private static final Set<String> CLUSTER_SCOPED = Set.of("Namespace");

    private KustomizeBuild() {
    }

    /** The objects that {@code kustomize build dir} prints, in resource order. */
    static List<ObjectNode> build(Path dir) {
        Path file = dir.resolve("kustomization.yaml");
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(dir + ": no kustomization.yaml");
        JsonNode k = Yaml.tree(read(file), file.toString());
        for (Iterator<String> names = k.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!FIELDS.contains(name)) {
                throw new IllegalArgumentException(file + ": field '" + name + "' is not supported by this build ("
                        + FIELDS + "); extend KustomizeBuild, or keep the manifests to those");
            }
        }
        List<ObjectNode> objects = new ArrayList<>();
        for (JsonNode entry : k.path("resources")) {
            Path resource = dir.resolve(entry.asText()).normalize();
            objects.addAll(Files.isDirectory(resource) ? build(resource) : Yaml.objects(resource));
        }
        requireUniqueIds(objects, file);
        for (JsonNode patch : k.path("patches")) objects = applyPatch(objects, patch, dir, file);
        String namespace = k.path("namespace").asText(null);
        if (namespace != null) {
            for (ObjectNode o : objects) {
                if (!CLUSTER_SCOPED.contains(o.path("kind").asText())) {
                    o.withObjectProperty("metadata").put("namespace", namespace);
                }
            }
        }
        return objects;
    }

    private static List<ObjectNode> applyPatch(List<ObjectNode> objects, JsonNode entry, Path dir, Path file) {
        entry.fieldNames().forEachRemaining(f -> {
            if (!PATCH_FIELDS.contains(f)) throw new IllegalArgumentException(file + ": patch field '" + f
                    + "' is not supported by this build " + PATCH_FIELDS);
        });
        Path path = entry.has("path") ? dir.resolve(entry.path("path").asText()) : null;
        String source = path != null ? path.toString() : file + " (inline patch)";
        String text = path != null ? read(path) : entry.path("patch").asText();
        JsonNode patch = Yaml.tree(text, source);
        JsonNode target = entry.get("target");
        if (target == null) {
            if (patch.isArray()) throw new IllegalArgumentException(source + ": a JSON 6902 patch needs a target");
            target = Yaml.MAPPER.createObjectNode().put("kind", patch.path("kind").asText())
                    .put("name", patch.path("metadata").path("name").asText());
        } else {
            target.fieldNames().forEachRemaining(f -> {
                if (!TARGET_FIELDS.contains(f)) throw new IllegalArgumentException(source + ": target field '" + f
                        + "' is not supported by this build " + TARGET_FIELDS);
            });
        }
        List<ObjectNode> out = new ArrayList<>();
        int matched = 0;
        for (ObjectNode o : objects) {
            if (!matches(o, target)) {
                out.add(o);
                continue;
            }
            matched++;
            if (patch.isArray()) {
                out.add((ObjectNode) JsonPatch.apply(o, patch, source));
            } else if (!StrategicMerge.deletes(patch)) {
                ObjectNode p = (ObjectNode) patch.deepCopy();
                // with a target, the patch's own name is a placeholder: each target keeps its name
                p.withObjectProperty("metadata").remove(List.of("name", "namespace"));
                out.add((ObjectNode) StrategicMerge.apply(o, p));
            }
        }
        if (matched == 0) throw new IllegalArgumentException(source + ": the patch matches no object (target "
                + target.path("kind").asText() + " " + target.path("name").asText("") + " "
                + target.path("labelSelector").asText("") + ")");
        return out;
    }

    private static boolean matches(JsonNode object, JsonNode target) {
        if (target.has("kind") && !target.path("kind").asText().equals(object.path("kind").asText())) return false;
        String name = target.path("name").asText("");
        if (!name.isEmpty() && !name.equals(object.path("metadata").path("name").asText())) return false;
        String selector = target.path("labelSelector").asText("");
        if (selector.isEmpty()) return true;
        JsonNode labels = object.path("metadata").path("labels");
        for (String term : selector.split(",")) {
            String[] kv = term.split("=", 2);
            if (kv.length != 2 || kv[0].endsWith("!")) throw new IllegalArgumentException("label selector term '"
                    + term + "' is not supported by this build (key=value terms only)");
            if (!kv[1].trim().equals(labels.path(kv[0].trim()).asText(null))) return false;
        }
        return true;
    }

    private static void requireUniqueIds(List<ObjectNode> objects, Path file) {
        Set<String> seen = new HashSet<>();
        for (ObjectNode o : objects) {
            if (!seen.add(Yaml.id(o))) throw new IllegalArgumentException(file + ": " + Yaml.id(o) + " appears twice");
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read", e);
        }
    }
}
