package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every build of k8s/ (the base and each overlay) is what kustomize builds, conforms to its schemas, fits together. */
class ManifestsTest {
    static Stream<String> builds() {
        return Stream.of("base", "overlays/local", "overlays/production");
    }

    @Test
    void everyOverlayIsTested() throws IOException {
        try (Stream<Path> dirs = Files.list(Builds.K8S.resolve("overlays"))) {
            Set<String> overlays = dirs.map(d -> "overlays/" + d.getFileName())
                    .collect(Collectors.toCollection(TreeSet::new));
            assertEquals(overlays, builds().filter(b -> b.startsWith("overlays/"))
                    .collect(Collectors.toCollection(TreeSet::new)));
        }
    }

    /** Where kubectl is installed (the project's machines have one), its kustomize and this test's build agree. */
    @ParameterizedTest
    @MethodSource("builds")
    void buildAgreesWithKubectlKustomize(String dir) {
        var kubectl = KubectlKustomize.kubectl();
        assumeTrue(kubectl.isPresent(), "no kubectl on the PATH: the build is checked by KustomizeBuild alone");
        System.out.println("comparing with " + KubectlKustomize.version(kubectl.get()));
        Map<String, JsonNode> ours = byId(Builds.of(dir));
        Map<String, JsonNode> theirs = byId(KubectlKustomize.build(kubectl.get(), Builds.K8S.resolve(dir)));
        assertEquals(theirs.keySet(), ours.keySet(), dir + ": the objects differ");
        for (String id : theirs.keySet()) {
            assertEquals(theirs.get(id), ours.get(id), dir + ": " + id + " differs from kubectl kustomize's");
        }
    }

    @ParameterizedTest
    @MethodSource("builds")
    void everyObjectConformsToItsSchemaAndFitsTheOthers(String dir) {
        List<ObjectNode> objects = Builds.of(dir);
        assertFalse(objects.isEmpty());
        List<String> problems = Builds.problems(objects);
        assertTrue(problems.isEmpty(), dir + ":\n  " + String.join("\n  ", problems));
    }

    /** The pool files are copies with one word changed; a change to one and not the others fails here. */
    @ParameterizedTest
    @MethodSource("builds")
    void expertPoolsDifferOnlyInTheirGroup(String dir) {
        Map<String, List<String>> normalised = new TreeMap<>();
        for (ObjectNode o : Builds.of(dir)) {
            String instance = o.path("metadata").path("labels").path("app.kubernetes.io/instance").asText();
            if (!instance.startsWith("expert-pool-")) continue;
            String group = instance.substring("expert-pool-".length());
            normalised.computeIfAbsent(instance, k -> new ArrayList<>()).add(o.toString()
                    .replace("expert-pool-" + group, "expert-pool-GROUP")
                    .replace("expert-group-" + group, "expert-group-GROUP"));
        }
        assertTrue(normalised.size() >= 2, dir + ": expected at least two expert pools, found " + normalised.keySet());
        normalised.values().forEach(l -> l.sort(null));
        List<String> first = normalised.values().iterator().next();
        normalised.forEach((pool, objects) ->
                assertEquals(first, objects, dir + ": " + pool + " differs from the first pool"));
    }

    @Test
    void localOverlayRunsOneReplicaOfEachRoleOnTheCpu() {
        List<ObjectNode> objects = Builds.of("overlays/local");
        assertEquals(Set.of(), kinds(objects, Set.of("HorizontalPodAutoscaler", "ScaledObject")), "no autoscalers");
        for (ObjectNode d : deployments(objects)) {
            assertEquals(1, d.path("spec").path("replicas").asInt(1), Yaml.id(d));
            assertFalse(d.toString().contains("nvidia.com/gpu"), Yaml.id(d) + " asks for a GPU");
        }
        for (ObjectNode pool : pools(objects)) assertEquals("cpu", env(pool, "EXPERT_BACKEND"), Yaml.id(pool));
    }

    @Test
    void productionOverlayPutsEveryExpertPoolOnAGpu() {
        List<ObjectNode> objects = Builds.of("overlays/production");
        List<ObjectNode> pools = pools(objects);
        assertTrue(pools.size() >= 2);
        for (ObjectNode pool : pools) {
            JsonNode pod = pool.path("spec").path("template").path("spec");
            assertEquals("cuda", env(pool, "EXPERT_BACKEND"), Yaml.id(pool));
            JsonNode limits = pod.path("containers").path(0).path("resources").path("limits");
            assertEquals("1", limits.path("nvidia.com/gpu").asText(), Yaml.id(pool));
            assertEquals("true", pod.path("nodeSelector").path("nvidia.com/gpu.present").asText(), Yaml.id(pool));
            assertEquals("nvidia.com/gpu", pod.path("tolerations").path(0).path("key").asText(), Yaml.id(pool));
            assertTrue(pod.path("affinity").has("podAntiAffinity"), Yaml.id(pool));
        }
        for (ObjectNode o : objects) {
            if (KedaScaledObjects.isScaledObject(o)) {
                assertTrue(o.path("spec").path("minReplicaCount").asInt() >= 2, Yaml.id(o));
            }
            if (o.path("kind").asText().equals("HorizontalPodAutoscaler")) {
                assertTrue(o.path("spec").path("minReplicas").asInt() >= 2, Yaml.id(o));
            }
        }
    }

    /**
     * Production runs mutual TLS inside the mesh: a Certificate per role for the orchestrator, the router and the
     * operator, a certificate per pod (cert-manager's csi-driver) for the attention services and the expert pools,
     * and every mesh Deployment presents one (the cross-references check that it is its role's, and the files;
     * without this test, an overlay with no certificates at all would pass them).
     */
    @Test
    void productionOverlayIssuesACertificateToEveryRoleAndEveryMeshServicePresentsOne() {
        List<ObjectNode> objects = Builds.of("overlays/production");
        Set<String> issued = new TreeSet<>();
        Map<String, String> secretRoles = new TreeMap<>();
        for (ObjectNode o : objects) {
            if (!o.path("kind").asText().equals("Certificate") || o.path("spec").path("isCA").asBoolean()) continue;
            for (JsonNode uri : o.path("spec").path("uris")) {
                if (uri.asText().startsWith(CertificateReferences.ROLE_URI)) {
                    secretRoles.put(o.path("spec").path("secretName").asText(),
                            uri.asText().substring(CertificateReferences.ROLE_URI.length()));
                }
            }
        }
        issued.addAll(secretRoles.values());
        Map<String, Set<String>> perPod = new TreeMap<>();
        for (ObjectNode d : deployments(objects)) {
            Set<String> mounted = new TreeSet<>();
            d.path("spec").path("template").path("spec").path("volumes").forEach(v -> {
                if (secretRoles.containsKey(v.path("secret").path("secretName").asText())) {
                    mounted.add(secretRoles.get(v.path("secret").path("secretName").asText()));
                }
                if (CsiCertificates.isCertificate(v)) {
                    for (String uri : CsiCertificates.attribute(v, "uri-sans").orElse("").split(",")) {
                        if (uri.startsWith(CertificateReferences.ROLE_URI)) {
                            String role = uri.substring(CertificateReferences.ROLE_URI.length());
                            mounted.add(role);
                            perPod.computeIfAbsent(role, r -> new TreeSet<>()).add(d.path("metadata").path("name").asText());
                        }
                    }
                }
            });
            assertEquals(1, mounted.size(), Yaml.id(d) + " mounts the certificates of " + mounted);
        }
        issued.addAll(perPod.keySet());
        Set<String> expected = new TreeSet<>(CertificateReferences.ROLE_OF_MODULE.values());
        expected.add("operator");
        assertEquals(expected, issued);
        // every role that registers with the control plane (and so could count as another instance of its role)
        assertEquals(Map.of("attention", Set.of("attention-service"), "expert", Set.of("expert-pool-g0", "expert-pool-g1"),
                "router", Set.of("router-service")), perPod,
                "the roles whose pods each have a certificate of their own, naming the pod");
    }

    /**
     * With every pool at its fewest replicas, one pod can drain (an eviction, a scale-down, a rolling update's
     * old pod): the other pods' slots still hold every expert, so the control plane moves its experts before it
     * stops instead of refusing the drain.
     */
    @Test
    void productionPoolsCanDrainAPodAtTheirFewestReplicas() {
        List<ObjectNode> objects = Builds.of("overlays/production");
        BuildIndex build = new BuildIndex(objects, Builds.REPO);
        JsonNode model = build.find(pools(objects).get(0), "ConfigMap", "moe-mesh-model").orElseThrow().path("data");
        int slots = Integer.parseInt(model.path("expert-slots").asText());
        int experts = 0;
        for (var it = model.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (key.startsWith("expert-group-")) {
                experts = Math.max(experts, Integer.parseInt(model.path(key).asText().replaceFirst(".*-", "")) + 1);
            }
        }
        int pods = pools(objects).stream().mapToInt(d -> build.replicas(d).min()).sum();
        assertTrue((pods - 1) * slots >= experts, (pods - 1) + " pods of " + slots + " slots cannot hold "
                + experts + " experts while a pod drains");
    }

    static List<ObjectNode> deployments(List<ObjectNode> objects) {
        return objects.stream().filter(o -> o.path("kind").asText().equals("Deployment")).toList();
    }

    static List<ObjectNode> pools(List<ObjectNode> objects) {
        return deployments(objects).stream().filter(d -> "expert-pool".equals(
                d.path("metadata").path("labels").path("app.kubernetes.io/component").asText())).toList();
    }

    private static String env(ObjectNode d, String name) {
        for (JsonNode e : d.path("spec").path("template").path("spec").path("containers").path(0).path("env")) {
            if (e.path("name").asText().equals(name)) return e.path("value").asText();
        }
        return null;
    }

    private static Set<String> kinds(List<ObjectNode> objects, Set<String> of) {
        return objects.stream().map(o -> o.path("kind").asText()).filter(of::contains).collect(Collectors.toSet());
    }

    private static Map<String, JsonNode> byId(List<ObjectNode> objects) {
        Map<String, JsonNode> out = new TreeMap<>();
        objects.forEach(o -> out.put(Yaml.id(o), o));
        return out;
    }
}
