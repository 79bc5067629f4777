package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Volumes of cert-manager's csi-driver ({@code csi.cert-manager.io}): each requests a certificate of the pod's own when
 * the pod starts, from the attributes of the volume. Read here as the {@code Certificate} it requests (cert-manager's
 * fields, csi-driver's defaults filled in), so that the checks of a {@code Certificate} apply to it; and checked for
 * what only such a volume can get wrong: an attribute csi-driver does not know (its documented list), a volume that is
 * not read-only (the driver refuses it), a key in the PKCS1 form the driver writes by default.
 */
final class CsiCertificates {
    static final String DRIVER = "csi.cert-manager.io";
    private static final String PREFIX = DRIVER + "/";
    /** csi-driver's volume attributes (cert-manager.io/docs/usage/csi-driver). */
    private static final Set<String> ATTRIBUTES = Set.of("issuer-name", "issuer-kind", "issuer-group", "common-name",
            "dns-names", "ip-sans", "uri-sans", "duration", "is-ca", "key-usages", "key-encoding", "certificate-file",
            "ca-file", "privatekey-file", "fs-group", "renew-before", "reuse-private-key", "pkcs12-enable",
            "pkcs12-filename", "pkcs12-password", "literal-subject");

    private CsiCertificates() {
    }

    static boolean isCertificate(JsonNode volume) {
        return DRIVER.equals(volume.path("csi").path("driver").asText());
    }

    /** The value of attribute {@code name} (without the driver's prefix), or empty. */
    static Optional<String> attribute(JsonNode volume, String name) {
        JsonNode v = volume.path("csi").path("volumeAttributes").path(PREFIX + name);
        return v.isMissingNode() || v.isNull() ? Optional.empty() : Optional.of(v.asText());
    }

    /** The file the driver writes {@code what} ({@code certificate-file}, {@code privatekey-file}, {@code ca-file}) as. */
    static String file(JsonNode volume, String what) {
        String fallback = switch (what) {
            case "certificate-file" -> "tls.crt";
            case "privatekey-file" -> "tls.key";
            case "ca-file" -> "ca.crt";
            default -> throw new IllegalArgumentException(what);
        };
        return attribute(volume, what).orElse(fallback);
    }

    /** What is wrong with the volume itself, each naming {@code where}. */
    static List<String> problems(String where, JsonNode volume) {
        List<String> problems = new ArrayList<>();
        for (Iterator<String> it = volume.path("csi").path("volumeAttributes").fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!key.startsWith(PREFIX) || !ATTRIBUTES.contains(key.substring(PREFIX.length()))) {
                problems.add(where + ": volume attribute " + key + " is not one of csi-driver's");
            }
        }
        if (!volume.path("csi").path("readOnly").asBoolean(false)) {
            problems.add(where + ": a csi-driver volume must be readOnly: true (the driver refuses others)");
        }
        if (attribute(volume, "issuer-name").isEmpty()) {
            problems.add(where + ": names no issuer (" + PREFIX + "issuer-name)");
        }
        if (!attribute(volume, "key-encoding").orElse("PKCS1").equals("PKCS8")) {
            problems.add(where + ": key-encoding is not PKCS8: csi-driver writes PKCS1 by default, which the TLS"
                    + " registry reads only for RSA keys");
        }
        return problems;
    }

    /**
     * The Certificate the volume of {@code deployment} requests, as cert-manager's fields: apiVersion
     * {@code csi.cert-manager.io}, kind {@code volume}, named {@code <deployment>/<volume>}.
     */
    static ObjectNode asCertificate(JsonNode deployment, JsonNode volume) {
        ObjectNode cert = Yaml.MAPPER.createObjectNode().put("apiVersion", DRIVER).put("kind", "volume");
        JsonNode meta = deployment.path("metadata");
        ObjectNode m = cert.putObject("metadata").put("name", meta.path("name").asText() + "/" + volume.path("name").asText());
        if (meta.has("namespace")) m.put("namespace", meta.path("namespace").asText());
        ObjectNode spec = cert.putObject("spec");
        spec.putObject("issuerRef").put("name", attribute(volume, "issuer-name").orElse(""))
                .put("kind", attribute(volume, "issuer-kind").orElse("Issuer"))
                .put("group", attribute(volume, "issuer-group").orElse("cert-manager.io"));
        String duration = attribute(volume, "duration").orElse("720h");
        spec.put("duration", duration);
        spec.put("renewBefore", attribute(volume, "renew-before").orElseGet(() -> CertificateReferences.seconds(duration)
                .map(s -> s / 3 + "s").orElse("")));
        spec.put("isCA", Boolean.parseBoolean(attribute(volume, "is-ca").orElse("false")));
        spec.putObject("privateKey").put("encoding", attribute(volume, "key-encoding").orElse("PKCS1"))
                .put("rotationPolicy", Boolean.parseBoolean(attribute(volume, "reuse-private-key").orElse("false"))
                        ? "Never" : "Always");
        list(spec.putArray("usages"), attribute(volume, "key-usages").orElse("digital signature,key encipherment"));
        list(spec.putArray("uris"), attribute(volume, "uri-sans").orElse(""));
        list(spec.putArray("dnsNames"), attribute(volume, "dns-names").orElse(""));
        return cert;
    }

    private static void list(ArrayNode into, String commaSeparated) {
        for (String s : commaSeparated.split(",")) if (!s.isBlank()) into.add(s.strip());
    }
}
