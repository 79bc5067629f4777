package dev.moemesh.tls;

import java.util.Locale;
import java.util.Optional;

/**
 * What a mesh certificate lets its holder do. A certificate names its roles as SAN URIs {@code urn:moemesh:role:<role>}
 * (one or more), and may name the instances it speaks for as {@code urn:moemesh:instance:<instance id>}.
 */
public enum MeshRole {
    /** an attention service: calls expert services, registers with the control plane */
    ATTENTION,
    /** an expert service: registers with the control plane, drains itself */
    EXPERT,
    /** the router: a front door, calls attention services */
    ROUTER,
    /** the orchestrator: the Kafka front door (calls attention services) and the control plane (loads and unloads experts) */
    ORCHESTRATOR,
    /** a person or their tool: drains and unloads any service, reads stats */
    OPERATOR;

    public static final String URI_PREFIX = "urn:moemesh:role:";
    public static final String INSTANCE_URI_PREFIX = "urn:moemesh:instance:";

    /** The SAN URI that names this role in a certificate. */
    public String uri() {
        return URI_PREFIX + label();
    }

    /** lower case, as certificates, file names and log lines write it */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The role a SAN URI names, or empty when it names none (or one this mesh does not know). */
    public static Optional<MeshRole> fromUri(String uri) {
        if (!uri.startsWith(URI_PREFIX)) {
            return Optional.empty();
        }
        String label = uri.substring(URI_PREFIX.length());
        for (MeshRole role : values()) {
            if (role.label().equals(label)) {
                return Optional.of(role);
            }
        }
        return Optional.empty();
    }
}
