package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Iterator;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checks fail where they should: each case breaks one thing and expects the messages that name it. */
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

    /** {@code DEPLOYMENT} with {@code text} replaced by {@code by}, and the one problem expected. */
    record SchemaBreakage(String text, String by, String expected) {
    }

    static Stream<Named<SchemaBreakage>> schemaBreakages() {
        return Stream.of(
                Named.of("a misspelled field", new SchemaBreakage("containers:", "contianers:",
                        "The field `contianers` in the JSON string is not defined in the `V1PodSpec` properties")),
                Named.of("a container without a name", new SchemaBreakage("- name: main", "- command: [run]",
                        "The required field `name` is not found")),
                Named.of("a port written as a string", new SchemaBreakage("containerPort: 8080",
                        "containerPort: \"8080\"", "containerPort is the string \"8080\" where the API has a number")),
                Named.of("a quantity that is none", new SchemaBreakage("memory: 1Gi", "memory: 1 gigabyte",
                        "quantity")));
    }

    @Test
    void theUnbrokenDeploymentPasses() {
        assertEquals(List.of(), KubernetesSchemas.problems(Yaml.objects(DEPLOYMENT, "test").get(0)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("schemaBreakages")
    void schemaRejects(SchemaBreakage b) {
        String yaml = DEPLOYMENT.replace(b.text(), b.by());
        assertNotEquals(DEPLOYMENT, yaml, "the case changes nothing");
        assertProblems(KubernetesSchemas.problems(Yaml.objects(yaml, "test").get(0)), b.expected());
    }

    /** The value at {@code pointer} of one object of the built base replaced (removed where null). */
    record Breakage(String kind, String name, String pointer, Object value, List<String> expected) {
    }

    static Stream<Named<Breakage>> breakages() {
        return Stream.of(
                Named.of("a Service that selects no pods", new Breakage("Service", "attention-service",
                        "/spec/selector/app.kubernetes.io~1instance", "attention",
                        List.of("v1 Service moe-mesh/attention-service: selector"))),
                Named.of("a probe on a port the container lacks", new Breakage("Deployment", "router-service",
                        CONTAINER + "/readinessProbe/httpGet/port", "web",
                        List.of("readinessProbe port web is not a port of the container",
                                "readinessProbe is /q/health/ready on port web, not /q/health/ready on port http"))),
                Named.of("a port the service does not listen on", new Breakage("Deployment", "expert-pool-g0",
                        CONTAINER + "/ports/0/containerPort", 9101,
                        List.of("port grpc is 9101 but expert-service listens on 9100"))),
                Named.of("a variable that is no setting", new Breakage("Deployment", "attention-service",
                        CONTAINER + "/env/2/name", "ATTENTION_INSTANCE",
                        List.of("ATTENTION_INSTANCE is not a setting of attention-service"))),
                Named.of("the address of no Service", new Breakage("Deployment", "router-service",
                        CONTAINER + "/env/1/value", "attention:9200",
                        List.of("attention:9200 names no Service of the build"))),
                Named.of("a ConfigMap key that is missing", new Breakage("ConfigMap", "moe-mesh-model",
                        "/data/expert-group-g1", null,
                        List.of("reads key expert-group-g1 of ConfigMap moe-mesh-model",
                                "EXPERT_EXPERTS is 'unset'"))),
                Named.of("a writable model mount", new Breakage("Deployment", "attention-service",
                        CONTAINER + "/volumeMounts/0/readOnly", false, List.of("mounts /models writable"))),
                Named.of("overlapping expert groups", new Breakage("ConfigMap", "moe-mesh-model",
                        "/data/expert-group-g1", "*:6-13", List.of("experts 6 to 7 are in two pools"))),
                Named.of("too few expert slots", new Breakage("ConfigMap", "moe-mesh-model", "/data/expert-slots", "4",
                        List.of("expert-pool-g0: its pods load 8 experts of each layer at start (*:0-7) but have 4",
                                "expert-pool-g1: its pods load 8 experts of each layer at start (*:8-15) but have 4",
                                "the pods have 8 expert slots per layer {expert-pool-g0=1 × 4, expert-pool-g1=1 × 4},"
                                        + " fewer than the 16 experts"))),
                Named.of("one replica where two fit", new Breakage("ConfigMap", "moe-mesh-model", "/data/min-replicas",
                        "1", List.of("min-replicas is 1 though the pods' 32 expert slots per layer"))),
                Named.of("more replicas than the slots hold", new Breakage("ConfigMap", "moe-mesh-model",
                        "/data/min-replicas", "3", List.of("min-replicas is 3 but with every pool at its fewest"))),
                Named.of("a control plane on the orchestrator's HTTP port", new Breakage("Deployment",
                        "expert-pool-g0", CONTAINER + "/env/3/value", "orchestrator:8380",
                        List.of("EXPERT_CONTROL_PLANE: port 8380 of Service orchestrator does not lead to the gRPC"
                                + " port (quarkus.grpc.server.port) of an orchestrator container"))),
                Named.of("a control plane behind readiness", new Breakage("Service", "orchestrator",
                        "/spec/publishNotReadyAddresses", false,
                        List.of("router-service container router-service ROUTER_CONTROL_PLANE: Service orchestrator"
                                        + " does not set publishNotReadyAddresses",
                                "attention-service container attention-service ATTENTION_CONTROL_PLANE: Service"
                                        + " orchestrator does not set publishNotReadyAddresses",
                                "expert-pool-g0 container expert-service EXPERT_CONTROL_PLANE: Service orchestrator"
                                        + " does not set publishNotReadyAddresses",
                                "expert-pool-g1 container expert-service EXPERT_CONTROL_PLANE: Service orchestrator"
                                        + " does not set publishNotReadyAddresses"))),
                Named.of("a control plane that is not set", new Breakage("Deployment", "attention-service",
                        CONTAINER + "/env/1", null, List.of("ATTENTION_CONTROL_PLANE is unset"))),
                Named.of("one instance id for every replica", new Breakage("Deployment", "expert-pool-g0",
                        CONTAINER + "/env/4/valueFrom/fieldRef/fieldPath", "spec.nodeName",
                        List.of("EXPERT_INSTANCE_ID is not the pod's name"))),
                Named.of("an advertised address on the HTTP port", new Breakage("Deployment", "expert-pool-g0",
                        CONTAINER + "/env/6/value", "$(POD_IP):8180",
                        List.of("EXPERT_ADVERTISED_ADDRESS advertises port 8180, not the gRPC port 9100"))),
                Named.of("an advertised address of a Service", new Breakage("Deployment", "attention-service",
                        CONTAINER + "/env/4/value", "attention-service:9200",
                        List.of("POD_IP is not a setting of attention-service",
                                "ATTENTION_ADVERTISED_ADDRESS is 'attention-service:9200'; others reach the pod at"
                                        + " its own IP"))),
                Named.of("a reference to no variable before it", new Breakage("Deployment", "expert-pool-g0",
                        CONTAINER + "/env/5/name", "MY_IP",
                        List.of("EXPERT_ADVERTISED_ADDRESS refers to $(POD_IP), which no variable before it defines",
                                "MY_IP is not a setting of expert-service",
                                "EXPERT_ADVERTISED_ADDRESS uses $(POD_IP), which is not a variable before it"))),
                Named.of("a fixed list of expert services beside the control plane", new Breakage("Deployment",
                        "attention-service", CONTAINER + "/env/2/name", "ATTENTION_EXPERT_SERVICES",
                        List.of("ATTENTION_EXPERT_SERVICES is set beside ATTENTION_CONTROL_PLANE"))),
                Named.of("a drain longer than the grace period", new Breakage("Deployment", "expert-pool-g0",
                        CONTAINER + "/env/7/value", "120s",
                        List.of("terminationGracePeriodSeconds 75 is shorter than the drain (120s)"))),
                Named.of("an autoscaler of the control plane", new Breakage("HorizontalPodAutoscaler",
                        "router-service", "/spec/scaleTargetRef/name", "orchestrator",
                        List.of("orchestrator: may run 4 replicas, but the control plane's membership"))),
                Named.of("a metric the service does not export", new Breakage("ScaledObject", "expert-pool-g0",
                        "/spec/triggers/0/metadata/query",
                        "sum(rate(moemesh_expert_rows_total{namespace=\"moe-mesh\",pod=~\"expert-pool-g0-.*\"}[2m]))",
                        List.of("no meter \"moemesh.expert.rows\" in its source"))),
                Named.of("an autoscaler of no Deployment", new Breakage("HorizontalPodAutoscaler", "router-service",
                        "/spec/scaleTargetRef/name", "router",
                        List.of("scales Deployment router, which is not in the build"))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("breakages")
    void crossReferencesReject(Breakage b) {
        List<ObjectNode> base = Builds.of("base");
        ObjectNode o = base.stream().filter(x -> x.path("kind").asText().equals(b.kind())
                && x.path("metadata").path("name").asText().equals(b.name())).findFirst().orElseThrow();
        ObjectNode op = Yaml.MAPPER.createObjectNode().put("op", b.value() == null ? "remove" : "replace")
                .put("path", b.pointer());
        if (b.value() != null) op.set("value", Yaml.MAPPER.valueToTree(b.value()));
        JsonNode changed = JsonPatch.apply(o, Yaml.MAPPER.createArrayNode().add(op), "test");
        o.removeAll();
        o.setAll((ObjectNode) changed);
        assertProblems(Builds.problems(base), b.expected().toArray(String[]::new));
    }

    /** One change to an object of the built production overlay (where the mesh runs on cert-manager's certificates). */
    record TlsBreakage(String kind, String name, Consumer<ObjectNode> change, List<String> expected) {
    }

    static Stream<Named<TlsBreakage>> tlsBreakages() {
        return Stream.of(
                Named.of("a Secret no Certificate issues", new TlsBreakage("Deployment", "orchestrator",
                        d -> volume(d, "mesh-tls").with("secret").put("secretName", "mesh-orchestrator-tls-old"),
                        List.of("orchestrator container orchestrator: mounts Secret mesh-orchestrator-tls-old"
                                + " for quarkus.tls.mesh, but no Certificate of the build issues it"))),
                Named.of("a certificate of another role", new TlsBreakage("Deployment", "expert-pool-g0",
                        d -> csi(d).put("csi.cert-manager.io/uri-sans",
                                "urn:moemesh:role:attention," + CertificateReferences.POD_INSTANCE_URI),
                        List.of("expert-pool-g0 container expert-service: presents csi.cert-manager.io volume"
                                + " moe-mesh/expert-pool-g0/mesh-tls, of role [attention], but runs expert-service, whose"
                                + " certificate names role expert"))),
                Named.of("a certificate per pod that names no pod", new TlsBreakage("Deployment", "expert-pool-g1",
                        d -> csi(d).put("csi.cert-manager.io/uri-sans", "urn:moemesh:role:expert"),
                        List.of("expert-pool-g1 container expert-service: its certificate per pod names instances [],"
                                + " not only urn:moemesh:instance:${POD_NAME}"))),
                Named.of("a per-pod certificate of a service registering as host:port", new TlsBreakage("Deployment",
                        "attention-service", d -> removeIf(d.at(CONTAINER + "/env"),
                                e -> e.path("name").asText().equals("ATTENTION_INSTANCE_ID")),
                        List.of("attention-service container attention-service: sets no *_INSTANCE_ID"))),
                Named.of("a per-pod key kept across renewals, in PKCS1", new TlsBreakage("Deployment", "attention-service",
                        d -> csi(d).put("csi.cert-manager.io/reuse-private-key", "true")
                                .remove("csi.cert-manager.io/key-encoding"),
                        List.of("volume mesh-tls: key-encoding is not PKCS8",
                                "attention-service/mesh-tls: privateKey.rotationPolicy is not Always"))),
                Named.of("an attribute csi-driver does not know", new TlsBreakage("Deployment", "expert-pool-g0",
                        d -> csi(d).put("csi.cert-manager.io/uri-san", "urn:moemesh:role:expert"),
                        List.of("volume mesh-tls: volume attribute csi.cert-manager.io/uri-san is not one of"
                                + " csi-driver's"))),
                Named.of("a role the mesh does not know", new TlsBreakage("Certificate", "mesh-orchestrator",
                        c -> ((ArrayNode) c.path("spec").path("uris")).set(0, "urn:moemesh:role:admin"),
                        List.of("mesh-orchestrator: names role admin, which is not a MeshRole",
                                "orchestrator container orchestrator: presents"))),
                Named.of("an Issuer that is not there", new TlsBreakage("Certificate", "mesh-orchestrator",
                        c -> c.with("spec").with("issuerRef").put("name", "mesh-issuer"),
                        List.of("mesh-orchestrator: issuerRef names Issuer mesh-issuer, which is not in the build"))),
                Named.of("a CA Issuer on a Secret no CA Certificate issues", new TlsBreakage("Issuer", "mesh-ca",
                        i -> i.with("spec").with("ca").put("secretName", "mesh-root"),
                        List.of("Issuer moe-mesh/mesh-ca: its CA Secret mesh-root is issued by no CA Certificate"))),
                Named.of("a CA file outside the mount", new TlsBreakage("Deployment", "orchestrator",
                        d -> env(d, "QUARKUS_TLS_MESH_TRUST_STORE_PEM_CERTS").put("value", "/etc/ssl/ca.crt"),
                        List.of("QUARKUS_TLS_MESH_TRUST_STORE_PEM_CERTS is /etc/ssl/ca.crt, which is in no volume"
                                + " the container mounts"))),
                Named.of("the certificate where the key belongs", new TlsBreakage("Deployment", "orchestrator",
                        d -> env(d, "QUARKUS_TLS_MESH_KEY_STORE_PEM_SERVICE_KEY").put("value", "/etc/moemesh/tls/tls.crt"),
                        List.of("QUARKUS_TLS_MESH_KEY_STORE_PEM_SERVICE_KEY is /etc/moemesh/tls/tls.crt, but cert-manager"
                                + " writes the private key as /etc/moemesh/tls/tls.key"))),
                Named.of("the per-pod certificate where the key belongs", new TlsBreakage("Deployment", "expert-pool-g1",
                        d -> env(d, "QUARKUS_TLS_MESH_KEY_STORE_PEM_SERVICE_KEY").put("value", "/etc/moemesh/tls/tls.crt"),
                        List.of("QUARKUS_TLS_MESH_KEY_STORE_PEM_SERVICE_KEY is /etc/moemesh/tls/tls.crt, but csi-driver"
                                + " writes the private key as /etc/moemesh/tls/tls.key"))),
                Named.of("a service left on plaintext", new TlsBreakage("Deployment", "router-service",
                        d -> removeIf(d.at(CONTAINER + "/env"), e -> e.path("name").asText()
                                .startsWith("QUARKUS_TLS_MESH_")),
                        List.of("router-service container router-service: runs plaintext (no QUARKUS_TLS_MESH_*)"
                                + " in a build that issues mesh certificates"))),
                Named.of("a control plane the certificate does not name", new TlsBreakage("Certificate",
                        "mesh-orchestrator", c -> ((ArrayNode) c.path("spec").path("dnsNames")).remove(0),
                        List.of("router-service container router-service ROUTER_CONTROL_PLANE: dials orchestrator",
                                "attention-service container attention-service ATTENTION_CONTROL_PLANE: dials"
                                        + " orchestrator, which cert-manager.io/v1 Certificate moe-mesh/mesh-orchestrator"
                                        + " (presented by apps/v1 Deployment moe-mesh/orchestrator) does not name",
                                "expert-pool-g0 container expert-service EXPERT_CONTROL_PLANE: dials orchestrator",
                                "expert-pool-g1 container expert-service EXPERT_CONTROL_PLANE: dials orchestrator"))),
                Named.of("a certificate renewed but never reloaded", new TlsBreakage("Deployment", "expert-pool-g1",
                        d -> removeIf(d.at(CONTAINER + "/env"), e -> e.path("name").asText()
                                .equals("QUARKUS_TLS_MESH_RELOAD_PERIOD")),
                        List.of("expert-pool-g1 container expert-service: sets no QUARKUS_TLS_MESH_RELOAD_PERIOD"))),
                Named.of("a misspelled field", new TlsBreakage("Certificate", "mesh-orchestrator",
                        c -> c.with("spec").set("dnsName", ((ObjectNode) c.path("spec")).remove("dnsNames")),
                        List.of("field spec.dnsName is not in cert-manager's schema",
                                "router-service container router-service ROUTER_CONTROL_PLANE: dials orchestrator",
                                "attention-service container attention-service ATTENTION_CONTROL_PLANE: dials"
                                        + " orchestrator",
                                "expert-pool-g0 container expert-service EXPERT_CONTROL_PLANE: dials orchestrator",
                                "expert-pool-g1 container expert-service EXPERT_CONTROL_PLANE: dials orchestrator"))),
                Named.of("a per-pod certificate without the name it is dialed by", new TlsBreakage("Deployment",
                        "attention-service", d -> csi(d).remove("csi.cert-manager.io/dns-names"),
                        List.of("orchestrator container orchestrator ORCHESTRATOR_ATTENTION_SERVICES: dials"
                                        + " attention-service, which csi.cert-manager.io volume"
                                        + " moe-mesh/attention-service/mesh-tls",
                                "router-service container router-service ROUTER_ATTENTION_SERVICES: dials"
                                        + " attention-service"))),
                Named.of("a key kept across renewals", new TlsBreakage("Certificate", "mesh-operator",
                        c -> c.with("spec").with("privateKey").put("rotationPolicy", "Never"),
                        List.of("mesh-operator: privateKey.rotationPolicy is not Always"))),
                Named.of("a certificate that cannot call", new TlsBreakage("Certificate", "mesh-operator",
                        c -> removeIf(c.path("spec").path("usages"), u -> u.asText().equals("client auth")),
                        List.of("mesh-operator: usages lack 'client auth'"))),
                Named.of("a router's certificate that speaks for every router", new TlsBreakage("Deployment",
                        "router-service", d -> csi(d).put("csi.cert-manager.io/uri-sans", "urn:moemesh:role:router"),
                        List.of("router-service container router-service: its certificate per pod names instances [],"
                                + " not only urn:moemesh:instance:${POD_NAME}"))),
                Named.of("a per-pod certificate that cannot call", new TlsBreakage("Deployment", "expert-pool-g0",
                        d -> csi(d).put("csi.cert-manager.io/key-usages", "digital signature,server auth"),
                        List.of("expert-pool-g0/mesh-tls: usages lack 'client auth'"))),
                Named.of("an ECDSA key in cert-manager's default encoding", new TlsBreakage("Certificate",
                        "mesh-operator", c -> ((ObjectNode) c.path("spec").path("privateKey")).remove("encoding"),
                        List.of("mesh-operator: an ECDSA key without encoding PKCS8"))),
                Named.of("a renewal due before issue", new TlsBreakage("Certificate", "mesh-orchestrator",
                        c -> c.with("spec").put("renewBefore", "3000h"),
                        List.of("mesh-orchestrator: renewBefore 3000h is not shorter than its duration 2160h"))),
                Named.of("a duration that is none", new TlsBreakage("Certificate", "mesh-operator",
                        c -> c.with("spec").put("duration", "1 day"),
                        List.of("spec.duration '1 day' is not a duration",
                                "mesh-operator: sets no duration and renewBefore"))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tlsBreakages")
    void certificateReferencesReject(TlsBreakage b) {
        List<ObjectNode> production = Builds.of("overlays/production");
        assertEquals(List.of(), Builds.problems(production), "the unbroken overlay");
        ObjectNode o = production.stream().filter(x -> x.path("kind").asText().equals(b.kind())
                && x.path("metadata").path("name").asText().equals(b.name())).findFirst().orElseThrow();
        String before = o.toString();
        b.change().accept(o);
        assertNotEquals(before, o.toString(), "the case changes nothing");
        assertProblems(Builds.problems(production), b.expected().toArray(String[]::new));
    }

    private static ObjectNode volume(ObjectNode d, String name) {
        for (JsonNode v : d.at("/spec/template/spec/volumes")) {
            if (v.path("name").asText().equals(name)) return (ObjectNode) v;
        }
        throw new AssertionError(Yaml.id(d) + " has no volume " + name);
    }

    /** The attributes of the Deployment's csi-driver volume {@code mesh-tls}. */
    private static ObjectNode csi(ObjectNode d) {
        return (ObjectNode) volume(d, "mesh-tls").path("csi").path("volumeAttributes");
    }

    private static void removeIf(JsonNode list, Predicate<JsonNode> which) {
        for (Iterator<JsonNode> it = list.elements(); it.hasNext(); ) {
            if (which.test(it.next())) it.remove();
        }
    }

    private static ObjectNode env(ObjectNode d, String name) {
        for (JsonNode e : d.at(CONTAINER + "/env")) {
            if (e.path("name").asText().equals(name)) return (ObjectNode) e;
        }
        throw new AssertionError(Yaml.id(d) + " has no variable " + name);
    }

    @Test
    void scaledObjectWithUnknownFieldAndMissingThresholdIsRejected() {
        ObjectNode so = Builds.of("base").stream().filter(o -> KedaScaledObjects.isScaledObject(o)
                && o.path("metadata").path("name").asText().equals("expert-pool-g1")).findFirst().orElseThrow();
        ((ObjectNode) so.path("spec")).put("maxReplicas", 3);
        ((ObjectNode) so.path("spec").path("triggers").path(0).path("metadata")).remove("threshold");
        assertProblems(KedaScaledObjects.problems(so), "field spec.maxReplicas is not in the ScaledObject schema",
                "metadata.threshold is required");
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

    /** Exactly as many problems as expected, each containing one of the expected texts, in that order. */
    private static void assertProblems(List<String> problems, String... expected) {
        String all = String.join("\n", problems);
        assertEquals(expected.length, problems.size(), "expected " + List.of(expected) + ", got:\n" + all);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(problems.get(i).contains(expected[i]), "expected '" + expected[i] + "', got:\n" + all);
        }
    }
}
