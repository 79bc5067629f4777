package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import io.kubernetes.client.openapi.models.V1ObjectMeta;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks cert-manager's Issuers and Certificates (cert-manager.io/v1), custom resources whose schemas no library
 * here carries (the CRDs are not in the Kubernetes client's models, and nothing fetches them offline): the fields of
 * cert-manager 1.x's Certificate and of the Issuer kinds these manifests use (selfSigned, ca), written out from
 * cert-manager's API reference, with their types and enumerations. Unknown fields are refused, as for built-in kinds;
 * an issuer type or field the manifests start to use must be added here after reading that reference.
 */
final class CertManagerObjects {
    static final String API_VERSION = "cert-manager.io/v1";

    private static final Set<String> CERTIFICATE_SPEC = Set.of("subject", "literalSubject", "commonName", "duration",
            "renewBefore", "renewBeforePercentage", "dnsNames", "ipAddresses", "uris", "otherNames", "emailAddresses",
            "secretName", "secretTemplate", "keystores", "issuerRef", "isCA", "usages", "privateKey",
            "encodeUsagesInRequest", "revisionHistoryLimit", "additionalOutputFormats", "nameConstraints");
    private static final Set<String> STRING_LISTS = Set.of("dnsNames", "ipAddresses", "uris", "emailAddresses",
            "usages");
    private static final Set<String> ISSUER_REF = Set.of("name", "kind", "group");
    private static final Set<String> PRIVATE_KEY = Set.of("rotationPolicy", "encoding", "algorithm", "size");
    private static final Map<String, Set<String>> PRIVATE_KEY_ENUMS = Map.of(
            "rotationPolicy", Set.of("Never", "Always"),
            "encoding", Set.of("PKCS1", "PKCS8"),
            "algorithm", Set.of("RSA", "ECDSA", "Ed25519"));
    /** cert-manager's KeyUsage values. */
    static final Set<String> USAGES = Set.of("signing", "digital signature", "content commitment",
            "key encipherment", "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
            "decipher only", "any", "server auth", "client auth", "code signing", "email protection", "s/mime",
            "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc",
            "netscape sgc");
    /** the issuer types this test knows, each with its fields; acme, vault and venafi are not used here */
    private static final Map<String, Set<String>> ISSUER_TYPES = Map.of(
            "selfSigned", Set.of("crlDistributionPoints"),
            "ca", Set.of("secretName", "crlDistributionPoints", "ocspServers", "issuingCertificateURLs"));
    /** a Go duration as cert-manager parses it: hours, minutes, seconds (cert-manager's docs write hours) */
    static final Pattern DURATION = Pattern.compile("(\\d+h)?(\\d+m)?(\\d+s)?");

    private CertManagerObjects() {
    }

    static boolean isCertManager(JsonNode object) {
        return API_VERSION.equals(object.path("apiVersion").asText())
                || object.path("apiVersion").asText().startsWith("cert-manager.io/");
    }

    static List<String> problems(JsonNode object) {
        String where = Yaml.id(object);
        List<String> problems = new ArrayList<>();
        if (!API_VERSION.equals(object.path("apiVersion").asText())) {
            problems.add(where + ": apiVersion " + object.path("apiVersion").asText() + " is not " + API_VERSION);
            return problems;
        }
        only(object, Set.of("apiVersion", "kind", "metadata", "spec"), "", where, problems);
        if (object.path("metadata").path("name").asText("").isEmpty()) {
            problems.add(where + ": metadata.name is required");
        }
        problems.addAll(KubernetesSchemas.problems(object.path("metadata"), V1ObjectMeta.class,
                where + " metadata"));
        switch (object.path("kind").asText()) {
            case "Certificate" -> certificate(object.path("spec"), where, problems);
            case "Issuer", "ClusterIssuer" -> issuer(object.path("spec"), where, problems);
            default -> problems.add(where + ": kind " + object.path("kind").asText() + " has no schema in this test");
        }
        return problems;
    }

    private static void certificate(JsonNode spec, String where, List<String> problems) {
        only(spec, CERTIFICATE_SPEC, "spec.", where, problems);
        for (String required : List.of("secretName", "issuerRef")) {
            if (!spec.has(required)) problems.add(where + ": spec." + required + " is required");
        }
        for (String text : List.of("secretName", "commonName", "duration", "renewBefore")) {
            if (spec.has(text) && !spec.get(text).isTextual()) {
                problems.add(where + ": spec." + text + " must be a string, not " + spec.get(text));
            }
        }
        for (String duration : List.of("duration", "renewBefore")) {
            String d = spec.path(duration).asText("");
            if (spec.has(duration) && (d.isEmpty() || !DURATION.matcher(d).matches())) {
                problems.add(where + ": spec." + duration + " '" + d + "' is not a duration (such as 2160h)");
            }
        }
        if (spec.has("isCA") && !spec.get("isCA").isBoolean()) {
            problems.add(where + ": spec.isCA must be a boolean, not " + spec.get("isCA"));
        }
        for (String list : STRING_LISTS) {
            if (!spec.has(list)) continue;
            JsonNode values = spec.get(list);
            if (!values.isArray()) {
                problems.add(where + ": spec." + list + " must be a list");
                continue;
            }
            for (JsonNode v : values) {
                if (!v.isTextual()) problems.add(where + ": spec." + list + " has " + v + ", not a string");
                else if (list.equals("usages") && !USAGES.contains(v.asText())) {
                    problems.add(where + ": spec.usages has '" + v.asText() + "', not a cert-manager key usage");
                }
            }
        }
        if (!(spec.has("commonName") || spec.has("dnsNames") || spec.has("uris") || spec.has("ipAddresses")
                || spec.has("emailAddresses") || spec.has("literalSubject") || spec.has("otherNames"))) {
            problems.add(where + ": names nothing (commonName, dnsNames, uris, ipAddresses or emailAddresses)");
        }
        JsonNode ref = spec.path("issuerRef");
        only(ref, ISSUER_REF, "spec.issuerRef.", where, problems);
        if (spec.has("issuerRef") && ref.path("name").asText("").isEmpty()) {
            problems.add(where + ": spec.issuerRef.name is required");
        }
        JsonNode key = spec.path("privateKey");
        only(key, PRIVATE_KEY, "spec.privateKey.", where, problems);
        PRIVATE_KEY_ENUMS.forEach((field, values) -> {
            if (key.has(field) && !values.contains(key.get(field).asText())) {
                problems.add(where + ": spec.privateKey." + field + " is " + key.get(field) + ", not one of " + values);
            }
        });
        if (key.has("size") && !key.get("size").isInt()) {
            problems.add(where + ": spec.privateKey.size must be a number, not " + key.get("size"));
        }
    }

    private static void issuer(JsonNode spec, String where, List<String> problems) {
        List<String> types = new ArrayList<>();
        spec.fieldNames().forEachRemaining(types::add);
        if (types.size() != 1) {
            problems.add(where + ": spec needs exactly one issuer type, not " + types);
        }
        for (String type : types) {
            Set<String> fields = ISSUER_TYPES.get(type);
            if (fields == null) {
                problems.add(where + ": issuer type " + type + " is not one this test knows " + ISSUER_TYPES.keySet());
                continue;
            }
            only(spec.get(type), fields, "spec." + type + ".", where, problems);
        }
        if (spec.has("ca") && spec.path("ca").path("secretName").asText("").isEmpty()) {
            problems.add(where + ": spec.ca.secretName is required");
        }
    }

    private static void only(JsonNode node, Set<String> allowed, String path, String where, List<String> problems) {
        node.fieldNames().forEachRemaining(f -> {
            if (!allowed.contains(f)) {
                problems.add(where + ": field " + path + f + " is not in cert-manager's schema");
            }
        });
    }
}
