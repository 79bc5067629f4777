package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checks fail where they should: each test breaks one thing and expects a message that names it. */
class ManifestRejectionTest {
    private static final String CONTAINER = "/spec/template/spec/containers/0";
    private static final String DEPLOYMENT = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: broken
            spec:
              selector:
                matchLabels: {app: broken}
              template:
                metadata:
                  labels: {app: broken}
                spec:
                  containers:
                    - name: main
                      image: example/broken:1
                      ports:
                        - {name: http, containerPort: 8080}
                      resources:
                        limits: {memory: 1Gi}
            """;

    @Test
    void theValidDeploymentPasses() {
        assertEquals(List.of(), KubernetesSchemas.problems(Yaml.objects(DEPLOYMENT, "test").get(0)));
    }

    @Test
    void misspelledFieldIsRejectedByName() {
        assertOneProblem(schema(DEPLOYMENT.replace("containers:", "contianers:")), "contianers");
    }

    @Test
    void missingRequiredFieldIsRejected() {
        assertOneProblem(schema(DEPLOYMENT.replace("- name: main", "- command: [run]")), "required field `name`");
    }

    @Test
    void numberWrittenAsStringIsRejected() {
        assertOneProblem(schema(DEPLOYMENT.replace("containerPort: 8080", "containerPort: \"8080\"")),
                "containerPort is the string \"8080\" where the API has a number");
    }

    @Test
    void quantityThatIsNoQuantityIsRejected() {
        assertOneProblem(schema(DEPLOYMENT.replace("memory: 1Gi", "memory: 1 gigabyte")), "quantity");
    }

    @Test
    void serviceThatSelectsNoPodsIsRejected() {
        var base = Builds.of("base");
        change(base, "Service", "attention-service", "/spec/selector/app.kubernetes.io~1instance", "attention");
        assertOneProblem(Builds.problems(base), "v1 Service moe-mesh/attention-service: selector");
    }

    @Test
    void probeOnAPortTheContainerLacksIsRejected() {
        var base = Builds.of("base");
        change(base, "Deployment", "router-service", CONTAINER + "/readinessProbe/httpGet/port", "web");
        assertHasProblem(Builds.problems(base), "readinessProbe port web is not a port of the container");
    }

    @Test
    void containerPortOtherThanTheServicesIsRejected() {
        var base = Builds.of("base");
        change(base, "Deployment", "expert-pool-g0", CONTAINER + "/ports/0/containerPort", 9101);
        assertHasProblem(Builds.problems(base), "port grpc is 9101 but expert-service listens on 9100");
    }

    @Test
    void variableThatIsNoSettingOfTheServiceIsRejected() {
        var base = Builds.of("base");
        change(base, "Deployment", "attention-service", CONTAINER + "/env/1/name",
                "ATTENTION_EXPERT_SERVICE");
        assertOneProblem(Builds.problems(base), "ATTENTION_EXPERT_SERVICE is not a setting of attention-service");
    }

    @Test
    void addressOfAServiceNotInTheBuildIsRejected() {
        var base = Builds.of("base");
        change(base, "Deployment", "router-service", CONTAINER + "/env/1/value", "attention:9200");
        assertOneProblem(Builds.problems(base), "attention:9200 names no Service of the build");
    }

    @Test
    void missingConfigMapKeyIsRejected() {
        var base = Builds.of("base");
        ((ObjectNode) find(base, "ConfigMap", "moe-mesh-model").path("data")).remove("expert-group-g1");
        assertHasProblem(Builds.problems(base), "reads key expert-group-g1 of ConfigMap moe-mesh-model");
    }

    @Test
    void writableModelMountIsRejected() {
        var base = Builds.of("base");
        change(base, "Deployment", "attention-service", CONTAINER + "/volumeMounts/0/readOnly", false);
        assertOneProblem(Builds.problems(base), "mounts /models writable");
    }

    @Test
    void overlappingExpertGroupsAreRejected() {
        var base = Builds.of("base");
        change(base, "ConfigMap", "moe-mesh-model", "/data/expert-group-g1", "*:6-15");
        assertOneProblem(Builds.problems(base), "experts 6 to 7 are in two pools");
    }

    @Test
    void kafkaTriggerOnAnotherConsumerGroupIsRejected() {
        var base = Builds.of("base");
        change(base, "ScaledObject", "orchestrator", "/spec/triggers/0/metadata/consumerGroup", "orchestrator");
        assertOneProblem(Builds.problems(base),
                "consumerGroup is 'orchestrator' but the orchestrator uses 'moemesh-orchestrator'");
    }

    @Test
    void queryOfAMetricTheServiceDoesNotExportIsRejected() {
        var base = Builds.of("base");
        change(base, "ScaledObject", "expert-pool-g0", "/spec/triggers/0/metadata/query",
                "sum(rate(moemesh_expert_rows_total{namespace=\"moe-mesh\",pod=~\"expert-pool-g0-.*\"}[2m]))");
        assertOneProblem(Builds.problems(base), "no meter \"moemesh.expert.rows\" in its source");
    }

    @Test
    void scaledObjectWithUnknownFieldOrMissingThresholdIsRejected() {
        var base = Builds.of("base");
        ObjectNode so = find(base, "ScaledObject", "expert-pool-g1");
        ((ObjectNode) so.path("spec")).put("maxReplicas", 3);
        ((ObjectNode) so.path("spec").path("triggers").path(0).path("metadata")).remove("threshold");
        List<String> problems = KedaScaledObjects.problems(so);
        assertEquals(2, problems.size(), String.join("\n", problems));
        assertTrue(problems.get(0).contains("field spec.maxReplicas is not in the ScaledObject schema"),
                problems.get(0));
        assertTrue(problems.get(1).contains("metadata.threshold is required"), problems.get(1));
    }

    @Test
    void autoscalerOfAMissingDeploymentIsRejected() {
        var base = Builds.of("base");
        change(base, "HorizontalPodAutoscaler", "router-service", "/spec/scaleTargetRef/name", "router");
        assertOneProblem(Builds.problems(base), "scales Deployment router, which is not in the build");
    }

    @Test
    void kustomizationWithAnUnsupportedFieldIsRefused(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("kustomization.yaml"), "resources: [../base]\nnamePrefix: dev-\n");
        var e = assertThrows(IllegalArgumentException.class, () -> KustomizeBuild.build(dir));
        assertTrue(e.getMessage().contains("field 'namePrefix' is not supported"), e.getMessage());
    }

    @Test
    void strategicMergePutsThePatchItemsFirstAsKustomizeDoes() {
        JsonNode original = Yaml.tree("spec: {containers: [{name: c, env: [{name: A, value: '1'}, "
                + "{name: B, value: '2'}]}]}", "o");
        JsonNode patch = Yaml.tree("spec: {containers: [{name: c, env: [{name: B, value: '7'}, "
                + "{name: D, value: '4'}]}]}", "p");
        assertEquals(Yaml.tree("spec: {containers: [{name: c, env: [{name: B, value: '7'}, {name: D, value: '4'}, "
                + "{name: A, value: '1'}]}]}", "expected"), StrategicMerge.apply(original, patch));
    }

    private static List<String> schema(String yaml) {
        return KubernetesSchemas.problems(Yaml.objects(yaml, "test").get(0));
    }

    private static void assertOneProblem(List<String> problems, String expected) {
        assertEquals(1, problems.size(),
                "expected one problem with '" + expected + "', got:\n" + String.join("\n", problems));
        assertTrue(problems.get(0).contains(expected), problems.get(0));
    }

    private static void assertHasProblem(List<String> problems, String expected) {
        assertTrue(problems.stream().anyMatch(p -> p.contains(expected)),
                "expected a problem with '" + expected + "', got:\n" + String.join("\n", problems));
    }

    private static ObjectNode find(List<ObjectNode> objects, String kind, String name) {
        return objects.stream().filter(o -> o.path("kind").asText().equals(kind)
                && o.path("metadata").path("name").asText().equals(name)).findFirst().orElseThrow();
    }

    /** Replaces the value at a JSON pointer of one object of the build, in place. */
    private static void change(List<ObjectNode> objects, String kind, String name, String pointer, Object value) {
        ObjectNode o = find(objects, kind, name);
        JsonNode op = Yaml.MAPPER.createObjectNode().put("op", "replace").put("path", pointer)
                .set("value", Yaml.MAPPER.valueToTree(value));
        JsonNode changed = JsonPatch.apply(o, Yaml.MAPPER.createArrayNode().add(op), "test");
        o.removeAll();
        o.setAll((ObjectNode) changed);
    }
}
