package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The mesh's certificates fit the services that use them: every Certificate's issuer is in the build (a CA
 * Issuer's Secret issued by a CA Certificate of the build); each service certificate names one role of the mesh's
 * ({@code MeshRole}) as {@code urn:moemesh:role:<role>}, serves and calls (server and client auth), gets a new key
 * on each renewal, renews before it expires and has a key the TLS registry reads; in a build that issues mesh
 * certificates every mesh container runs mutual TLS: its {@code quarkus.tls.<mesh>} environment (the registry entry
 * that mesh-tls's {@code MeshTlsSetup} reads) names the certificate, key and CA files cert-manager writes, in a
 * Secret volume the container mounts, which a Certificate of the build issues, or in a volume of cert-manager's
 * csi-driver ({@link CsiCertificates}: a certificate per pod, held to the same checks as a Certificate, naming the
 * pod as its instance, which must be the id the service registers under), of the role of the service the container
 * runs; and every address a mesh container dials by name is a DNS name of the certificate the pods behind it
 * present, or the handshake's host name check fails.
 */
final class CertificateReferences {
    /** The role each service module's certificate must name (the role it plays in {@code MeshAccess}'s table). */
    static final Map<String, String> ROLE_OF_MODULE = Map.of("attention-service", "attention",
            "expert-service", "expert", "orchestrator", "orchestrator", "router-service", "router");
    static final String ROLE_URI = "urn:moemesh:role:";
    private static final Pattern CONFIGURATION = Pattern.compile("CONFIGURATION\\s*=\\s*\"([^\"]+)\"");
    private static final Pattern ENUM_CONSTANT = Pattern.compile("(?m)^\\s+([A-Z][A-Z_]*)\\s*[,;]\\s*$");

    /** The PEM settings of the registry entry and the file cert-manager writes each into its Secret. */
    private record PemFile(String key, String file, String csiAttribute, String what) {
    }

    private static final List<PemFile> PEM = List.of(
            new PemFile("key-store.pem.service.cert", "tls.crt", "certificate-file", "certificate"),
            new PemFile("key-store.pem.service.key", "tls.key", "privatekey-file", "private key"),
            new PemFile("trust-store.pem.certs", "ca.crt", "ca-file", "issuing CA"));
    /** The instance a per-pod certificate names: the pod's name, as csi-driver fills it in. */
    static final String POD_INSTANCE_URI = "urn:moemesh:instance:${POD_NAME}";

    private final BuildIndex build;
    private final String registryName;
    private final Set<String> roles;
    /** Deployment id → the Certificate its mesh container presents. */
    private final Map<String, JsonNode> presented = new HashMap<>();
    /** Deployment id and volume name → the certificate its csi-driver volume requests, checked once. */
    private final Map<String, JsonNode> perPod = new HashMap<>();

    private CertificateReferences(BuildIndex build, String registryName, Set<String> roles) {
        this.build = build;
        this.registryName = registryName;
        this.roles = roles;
    }

    static void check(BuildIndex build, Path repo) {
        CertificateReferences c = new CertificateReferences(build, registryName(repo), roles(repo));
        List<JsonNode> certificates = c.certificates();
        for (JsonNode cert : certificates) c.checkCertificate(cert);
        for (JsonNode issuer : build.all("Issuer")) c.checkIssuer(issuer);
        for (JsonNode d : build.all("Deployment")) c.checkDeployment(d, !certificates.isEmpty());
        for (JsonNode d : build.all("Deployment")) c.checkDialedNames(d);
    }

    /** The mesh's registry entry: {@code quarkus.tls.<name>}, as MeshTlsSetup names it. */
    static String registryName(Path repo) {
        Path setup = repo.resolve("mesh-tls/src/main/java/dev/moemesh/tls/quarkus/MeshTlsSetup.java");
        Matcher m = CONFIGURATION.matcher(read(setup));
        if (!m.find()) throw new IllegalStateException(setup + " no longer names CONFIGURATION: update this test");
        return m.group(1);
    }

    /** The roles a mesh certificate may name: MeshRole's constants, lower case. */
    static Set<String> roles(Path repo) {
        String text = read(repo.resolve("proto/src/main/java/dev/moemesh/tls/MeshRole.java"));
        Set<String> roles = new TreeSet<>();
        ENUM_CONSTANT.matcher(text).results().forEach(r -> roles.add(r.group(1).toLowerCase()));
        if (roles.isEmpty()) throw new IllegalStateException("MeshRole has no constants this test can read");
        return roles;
    }

    /** The variable of a setting of the mesh's registry entry, such as QUARKUS_TLS_MESH_KEY_STORE_PEM_SERVICE_CERT. */
    static String envName(String registryName, String key) {
        return ServiceConfig.envName("quarkus.tls." + registryName + "." + key);
    }

    /**
     * True when {@code envName} sets the mesh's registry entry and {@code module} is built on mesh-tls (which reads
     * it): a setting of the service though no source of the module names it.
     */
    static boolean isMeshTlsVariable(Path repo, String module, String envName) {
        return envName.startsWith(ServiceConfig.envName("quarkus.tls." + registryName(repo) + "."))
                && read(repo.resolve(module).resolve("pom.xml")).contains("<artifactId>mesh-tls</artifactId>");
    }

    private List<JsonNode> certificates() {
        return build.all("Certificate").stream().filter(CertManagerObjects::isCertManager)
                .map(o -> (JsonNode) o).toList();
    }

    private void checkCertificate(JsonNode cert) {
        String id = Yaml.id(cert);
        JsonNode spec = cert.path("spec");
        JsonNode ref = spec.path("issuerRef");
        String kind = ref.path("kind").asText("Issuer");
        if (!ref.path("group").asText("cert-manager.io").equals("cert-manager.io")) {
            build.problem(id + ": issuerRef group " + ref.path("group").asText() + " is not cert-manager.io");
        } else if (kind.equals("Issuer") ? build.find(cert, "Issuer", ref.path("name").asText()).isEmpty()
                : build.all(kind).stream().noneMatch(i -> i.path("metadata").path("name").asText()
                        .equals(ref.path("name").asText()))) {
            build.problem(id + ": issuerRef names " + kind + " " + ref.path("name").asText()
                    + ", which is not in the build");
        }
        Optional<Long> duration = seconds(spec.path("duration").asText(""));
        Optional<Long> renewBefore = seconds(spec.path("renewBefore").asText(""));
        if (duration.isEmpty() || renewBefore.isEmpty()) {
            build.problem(id + ": sets no duration and renewBefore (cert-manager's defaults: 90 days, renewed at"
                    + " two thirds); say how long it lives and how early it renews");
        } else if (renewBefore.get() >= duration.get()) {
            build.problem(id + ": renewBefore " + spec.path("renewBefore").asText() + " is not shorter than its"
                    + " duration " + spec.path("duration").asText());
        }
        if (!"Always".equals(spec.path("privateKey").path("rotationPolicy").asText())) {
            build.problem(id + ": privateKey.rotationPolicy is not Always: a renewal would keep the old key");
        }
        if (spec.path("isCA").asBoolean()) return;
        List<String> named = new ArrayList<>();
        for (JsonNode uri : spec.path("uris")) {
            if (uri.asText().startsWith(ROLE_URI)) named.add(uri.asText().substring(ROLE_URI.length()));
        }
        if (named.size() != 1) {
            build.problem(id + ": names " + named.size() + " roles " + named + " as " + ROLE_URI + "<role>; a mesh"
                    + " certificate names exactly one");
        } else if (!roles.contains(named.get(0))) {
            build.problem(id + ": names role " + named.get(0) + ", which is not a MeshRole " + roles);
        }
        Set<String> usages = new TreeSet<>();
        spec.path("usages").forEach(u -> usages.add(u.asText()));
        for (String usage : List.of("server auth", "client auth")) {
            if (!usages.contains(usage)) {
                build.problem(id + ": usages lack '" + usage + "': every mesh process both serves and calls");
            }
        }
        String algorithm = spec.path("privateKey").path("algorithm").asText("RSA");
        if (!algorithm.equals("RSA") && !"PKCS8".equals(spec.path("privateKey").path("encoding").asText())) {
            build.problem(id + ": an " + algorithm + " key without encoding PKCS8: the TLS registry reads PEM keys in"
                    + " PKCS8 (or RSA's PKCS1), not the form cert-manager writes " + algorithm + " keys in by default");
        }
    }

    private void checkIssuer(JsonNode issuer) {
        if (!issuer.path("spec").has("ca")) return;
        String secret = issuer.path("spec").path("ca").path("secretName").asText();
        boolean issued = certificates().stream().anyMatch(c -> BuildIndex.sameNamespace(c, issuer)
                && c.path("spec").path("isCA").asBoolean() && c.path("spec").path("secretName").asText().equals(secret));
        if (!issued) {
            build.problem(Yaml.id(issuer) + ": its CA Secret " + secret + " is issued by no CA Certificate (isCA) of"
                    + " the build");
        }
    }

    private void checkDeployment(JsonNode d, boolean buildIssuesCertificates) {
        String id = Yaml.id(d);
        JsonNode pod = d.path("spec").path("template").path("spec");
        Map<String, JsonNode> volumes = new LinkedHashMap<>();
        pod.path("volumes").forEach(v -> volumes.put(v.path("name").asText(), v));
        for (JsonNode c : pod.path("containers")) {
            Optional<ServiceConfig> config = build.service(c);
            if (config.isEmpty()) continue;
            String where = id + " container " + c.path("name").asText();
            String module = config.get().module();
            boolean any = false;
            for (JsonNode e : c.path("env")) any |= e.path("name").asText().startsWith(envName(registryName, ""));
            if (!any) {
                if (buildIssuesCertificates) {
                    build.problem(where + ": runs plaintext (no " + envName(registryName, "") + "*) in a build that"
                            + " issues mesh certificates");
                }
                continue;
            }
            String reload = envName(registryName, "reload-period");
            if (BuildIndex.variable(c, reload).map(e -> e.path("value").asText("")).orElse("").isEmpty()) {
                build.problem(where + ": sets no " + reload + ": a certificate renewed in place would be presented"
                        + " only after a restart");
            }
            JsonNode certificate = null;
            Set<String> unissued = new TreeSet<>();
            for (PemFile pem : PEM) {
                String name = envName(registryName, pem.key());
                Optional<JsonNode> e = BuildIndex.variable(c, name);
                if (e.isEmpty() || !e.get().has("value")) {
                    build.problem(where + ": sets no " + name + " (the " + pem.what() + "), so quarkus.tls."
                            + registryName + " is incomplete");
                    continue;
                }
                String path = e.get().path("value").asText();
                Optional<JsonNode> mount = mountOf(c, path);
                if (mount.isEmpty()) {
                    build.problem(where + ": " + name + " is " + path + ", which is in no volume the container mounts");
                    continue;
                }
                JsonNode volume = volumes.get(mount.get().path("name").asText());
                if (volume != null && CsiCertificates.isCertificate(volume)) {
                    String expected = mount.get().path("mountPath").asText().replaceAll("/$", "") + "/"
                            + CsiCertificates.file(volume, pem.csiAttribute());
                    if (!path.equals(expected)) {
                        build.problem(where + ": " + name + " is " + path + ", but csi-driver writes the " + pem.what()
                                + " as " + expected);
                    }
                    JsonNode requested = perPod(d, volume);
                    if (certificate != null && certificate != requested) {
                        build.problem(where + ": " + name + " reads volume " + volume.path("name").asText()
                                + ", the other files another certificate's");
                    }
                    certificate = requested;
                    continue;
                }
                if (volume == null || !volume.has("secret")) {
                    build.problem(where + ": " + name + " is " + path + ", in volume " + mount.get().path("name")
                            .asText() + ", which is not a Secret or a csi-driver volume");
                    continue;
                }
                String expected = mount.get().path("mountPath").asText().replaceAll("/$", "") + "/" + pem.file();
                if (volume.path("secret").has("items")) {
                    build.problem(where + ": volume " + volume.path("name").asText() + " picks items of the Secret;"
                            + " mount it whole, as cert-manager writes it");
                } else if (!path.equals(expected)) {
                    build.problem(where + ": " + name + " is " + path + ", but cert-manager writes the " + pem.what()
                            + " as " + expected);
                }
                String secret = volume.path("secret").path("secretName").asText();
                Optional<JsonNode> issuing = certificates().stream().filter(x -> BuildIndex.sameNamespace(x, d)
                        && x.path("spec").path("secretName").asText().equals(secret)).findFirst();
                if (issuing.isEmpty()) {
                    if (unissued.add(secret)) {
                        build.problem(where + ": mounts Secret " + secret + " for quarkus.tls." + registryName
                                + ", but no Certificate of the build issues it");
                    }
                    continue;
                }
                if (certificate != null && certificate != issuing.get()) {
                    build.problem(where + ": " + name + " reads the Secret of " + Yaml.id(issuing.get())
                            + ", the other files that of " + Yaml.id(certificate));
                }
                certificate = issuing.get();
            }
            if (certificate == null) continue;
            presented.put(id, certificate);
            if (certificate.path("apiVersion").asText().equals(CsiCertificates.DRIVER)) checkInstance(where, c, certificate);
            String role = ROLE_OF_MODULE.get(module);
            List<String> named = new ArrayList<>();
            certificate.path("spec").path("uris").forEach(u -> {
                if (u.asText().startsWith(ROLE_URI)) named.add(u.asText().substring(ROLE_URI.length()));
            });
            if (role == null) {
                build.problem(where + ": runs " + module + ", whose role this test does not know: add it to"
                        + " CertificateReferences.ROLE_OF_MODULE");
            } else if (!named.equals(List.of(role))) {
                build.problem(where + ": presents " + Yaml.id(certificate) + ", of role " + named + ", but runs "
                        + module + ", whose certificate names role " + role);
            }
        }
    }

    /** The certificate a csi-driver volume of {@code d} requests: checked as a Certificate (once), and as a volume. */
    private JsonNode perPod(JsonNode d, JsonNode volume) {
        return perPod.computeIfAbsent(Yaml.id(d) + " volume " + volume.path("name").asText(), where -> {
            CsiCertificates.problems(where, volume).forEach(build::problem);
            ObjectNode cert = CsiCertificates.asCertificate(d, volume);
            checkCertificate(cert);
            return cert;
        });
    }

    /**
     * A certificate per pod names the pod as its instance, and the service registers under that name (its
     * {@code *_INSTANCE_ID} set, to the pod's name): otherwise the control plane's guard refuses its own registration
     * (or, naming no instance, the certificate speaks for every pod).
     */
    private void checkInstance(String where, JsonNode container, JsonNode certificate) {
        List<String> instances = new ArrayList<>();
        certificate.path("spec").path("uris").forEach(u -> {
            if (u.asText().startsWith("urn:moemesh:instance:")) instances.add(u.asText());
        });
        if (!instances.equals(List.of(POD_INSTANCE_URI))) {
            build.problem(where + ": its certificate per pod names instances " + instances + ", not only "
                    + POD_INSTANCE_URI + " (the pod it is issued to)");
        }
        // that a set *_INSTANCE_ID is the pod's name, ControlPlaneReferences checks; unset, the service registers as
        // <host name>:<port>, which is not the pod's name
        boolean named = false;
        for (JsonNode e : container.path("env")) named |= e.path("name").asText().endsWith("_INSTANCE_ID");
        if (!named) {
            build.problem(where + ": sets no *_INSTANCE_ID, so it registers as <host>:<port>, an instance its"
                    + " certificate per pod does not speak for");
        }
    }

    /** Each {@code host:port} a mesh container dials by a Service's name is a DNS name of what its pods present. */
    private void checkDialedNames(JsonNode d) {
        for (JsonNode c : d.path("spec").path("template").path("spec").path("containers")) {
            if (build.service(c).isEmpty()) continue;
            for (JsonNode e : c.path("env")) {
                String name = e.path("name").asText();
                if (!name.endsWith("_CONTROL_PLANE") && !name.endsWith("_SERVICES")) continue;
                for (String address : build.envValue(d, e).orElse("").split(",")) {
                    String host = address.trim().replaceFirst(":[^:]*$", "");
                    if (host.isEmpty() || host.contains("$(") || host.matches("[0-9.]+")) continue;
                    String service = host.split("\\.")[0];
                    String namespace = host.contains(".") ? host.split("\\.")[1]
                            : d.path("metadata").path("namespace").asText("");
                    for (JsonNode s : build.all("Service")) {
                        if (!s.path("metadata").path("name").asText().equals(service)
                                || !s.path("metadata").path("namespace").asText("").equals(namespace)) continue;
                        for (JsonNode target : build.selected(s, s.path("spec").path("selector"))) {
                            checkNamed(d, c, name, host, target);
                        }
                    }
                }
            }
        }
    }

    private void checkNamed(JsonNode d, JsonNode c, String variable, String host, JsonNode target) {
        JsonNode cert = presented.get(Yaml.id(target));
        if (cert == null) return;
        Set<String> names = new TreeSet<>();
        cert.path("spec").path("dnsNames").forEach(n -> names.add(n.asText()));
        if (!names.contains(host)) {
            build.problem(Yaml.id(d) + " container " + c.path("name").asText() + " " + variable + ": dials " + host
                    + ", which " + Yaml.id(cert) + " (presented by " + Yaml.id(target) + ") does not name in"
                    + " dnsNames " + names + ": the TLS handshake's host name check would refuse it");
        }
    }

    /** Seconds in a duration cert-manager reads ({@code 2160h}, {@code 90m}...); empty if none. */
    static Optional<Long> seconds(String duration) {
        if (duration.isEmpty() || !CertManagerObjects.DURATION.matcher(duration).matches()) return Optional.empty();
        long seconds = 0;
        Matcher m = Pattern.compile("(\\d+)([hms])").matcher(duration);
        while (m.find()) {
            long n = Long.parseLong(m.group(1));
            seconds += switch (m.group(2)) {
                case "h" -> n * 3600;
                case "m" -> n * 60;
                default -> n;
            };
        }
        return Optional.of(seconds);
    }

    /** The container's mount that holds the file {@code path} directly. */
    private static Optional<JsonNode> mountOf(JsonNode container, String path) {
        for (JsonNode m : container.path("volumeMounts")) {
            String dir = m.path("mountPath").asText().replaceAll("/$", "");
            if (path.startsWith(dir + "/") && !path.substring(dir.length() + 1).contains("/")) return Optional.of(m);
        }
        return Optional.empty();
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read", e);
        }
    }
}
