package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.runtime.configuration.DurationConverter;
import io.quarkus.tls.runtime.config.PemKeyCertConfig;
import io.quarkus.tls.runtime.config.TlsBucketConfig;
import io.quarkus.tls.runtime.config.TlsConfig;
import io.smallrye.config.EnvConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The mesh TLS environment the production overlay gives each container is what Quarkus reads as the TLS registry
 * entry {@code quarkus.tls.mesh}: SmallRye Config with the registry's own mapping ({@code TlsConfig} of
 * quarkus-tls-registry), given the container's variables as its environment, yields that entry with the key pair and
 * the CA files the manifests name. An environment variable's name is an ambiguous spelling of a key, and the
 * guide's {@code quarkus.tls.<name>.key-store.pem.0.cert} spelled as one sets nothing (the second test), so the
 * spelling is checked here rather than trusted.
 */
class MeshTlsConfigTest {
    private static final String REGISTRY_NAME = CertificateReferences.registryName(Builds.REPO);

    @Test
    void everyMeshContainersEnvironmentIsReadAsTheMeshRegistryEntry() {
        int containers = 0;
        for (ObjectNode d : ManifestsTest.deployments(Builds.of("overlays/production"))) {
            for (JsonNode c : d.path("spec").path("template").path("spec").path("containers")) {
                Map<String, String> env = new TreeMap<>();
                c.path("env").forEach(e -> {
                    if (e.path("name").asText().startsWith("QUARKUS_TLS_")) {
                        env.put(e.path("name").asText(), e.path("value").asText());
                    }
                });
                if (!c.path("image").asText().startsWith("moe-mesh/")) continue;
                containers++;
                String where = Yaml.id(d) + " container " + c.path("name").asText();
                Optional<TlsBucketConfig> mesh = meshEntry(env);
                assertTrue(mesh.isPresent(), where + ": " + env + " sets no quarkus.tls." + REGISTRY_NAME);
                PemKeyCertConfig pem = mesh.get().keyStore().flatMap(k -> k.pem()).orElseThrow(() ->
                        new AssertionError(where + ": " + env + " sets no PEM key store"));
                assertEquals(1, pem.keyCerts().size(), where + ": one key pair, not " + pem.keyCerts().keySet());
                PemKeyCertConfig.KeyCertConfig pair = pem.keyCerts().values().iterator().next();
                assertEquals(value(env, "CERT"), pair.cert().toString(), where);
                assertEquals(value(env, "KEY"), pair.key().toString(), where);
                assertEquals(List.of(value(env, "TRUST_STORE_PEM_CERTS")), mesh.get().trustStore()
                        .flatMap(t -> t.pem()).flatMap(p -> p.certs()).orElseThrow().stream()
                        .map(Object::toString).toList(), where);
            }
        }
        assertTrue(containers >= 5, "the mesh's containers of the production overlay: " + containers);
    }

    /** Why the manifests name the key pair {@code service}: the guide's {@code pem.0} does not survive the env. */
    @Test
    void aNumericKeyPairNameInAVariableSetsNoKeyStore() {
        Map<String, String> env = Map.of(
                "QUARKUS_TLS_MESH_KEY_STORE_PEM_0_CERT", "/etc/moemesh/tls/tls.crt",
                "QUARKUS_TLS_MESH_KEY_STORE_PEM_0_KEY", "/etc/moemesh/tls/tls.key",
                "QUARKUS_TLS_MESH_TRUST_STORE_PEM_CERTS", "/etc/moemesh/tls/ca.crt");
        TlsBucketConfig mesh = meshEntry(env).orElseThrow();
        assertFalse(mesh.keyStore().flatMap(k -> k.pem()).isPresent(),
                "SmallRye Config now reads pem.0 from the environment: the manifests could use the guide's name");
    }

    private static Optional<TlsBucketConfig> meshEntry(Map<String, String> env) {
        SmallRyeConfig config = new SmallRyeConfigBuilder()
                .withSources(new EnvConfigSource(env, 300))
                .withConverter(Duration.class, 200, new DurationConverter())
                .withMapping(TlsConfig.class)
                .build();
        return Optional.ofNullable(config.getConfigMapping(TlsConfig.class).namedCertificateConfig()
                .get(REGISTRY_NAME));
    }

    private static String value(Map<String, String> env, String suffix) {
        return env.entrySet().stream().filter(e -> e.getKey().endsWith("_" + suffix)
                && (suffix.startsWith("TRUST") || e.getKey().contains("_KEY_STORE_"))).map(Map.Entry::getValue)
                .findFirst().orElseThrow(() -> new AssertionError("no variable ending _" + suffix + " in " + env));
    }
}
