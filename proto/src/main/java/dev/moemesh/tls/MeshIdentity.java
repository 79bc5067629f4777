package dev.moemesh.tls;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Who a peer is, as its verified certificate says: the roles and instances its SAN URIs name, and its subject for log
 * lines.
 */
public record MeshIdentity(Set<MeshRole> roles, Set<String> instances, String subject) {

    private static final int SAN_URI = 6;

    public MeshIdentity {
        roles = roles.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(roles));
        instances = Set.copyOf(instances);
    }

    public static MeshIdentity of(X509Certificate certificate) {
        Set<MeshRole> roles = EnumSet.noneOf(MeshRole.class);
        Set<String> instances = new TreeSet<>();
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            names = null;
        }
        if (names != null) {
            for (List<?> name : names) {
                if (name.size() == 2 && Integer.valueOf(SAN_URI).equals(name.get(0)) && name.get(1) instanceof String uri) {
                    MeshRole.fromUri(uri).ifPresent(roles::add);
                    if (uri.startsWith(MeshRole.INSTANCE_URI_PREFIX)) {
                        instances.add(uri.substring(MeshRole.INSTANCE_URI_PREFIX.length()));
                    }
                }
            }
        }
        return new MeshIdentity(roles, instances, certificate.getSubjectX500Principal().getName());
    }

    public boolean has(MeshRole role) {
        return roles.contains(role);
    }

    /** the roles as a log line writes them, e.g. {@code [attention]} or {@code [none]} */
    public String rolesLabel() {
        return roles.isEmpty() ? "[none]" : roles.stream().map(MeshRole::label).sorted().toList().toString();
    }
}
