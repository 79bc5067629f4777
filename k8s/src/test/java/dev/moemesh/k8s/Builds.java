package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Where the manifests and the services are, seen from this module's tests (Maven runs them in k8s/). */
final class Builds {
    static final Path K8S = Path.of("").toAbsolutePath();
    static final Path REPO = K8S.getParent();

    private Builds() {
    }

    /** {@code kustomize build k8s/<dir>}, by this module's own build. */
    static List<ObjectNode> of(String dir) {
        if (!Files.isRegularFile(K8S.resolve("base/kustomization.yaml"))) {
            throw new IllegalStateException("run the tests from the k8s module's directory, not " + K8S);
        }
        return KustomizeBuild.build(K8S.resolve(dir));
    }

    /**
     * All problems of a build: schemas of built-in kinds, KEDA's and cert-manager's fields, and the
     * cross-references.
     */
    static List<String> problems(List<ObjectNode> objects) {
        List<String> problems = new ArrayList<>();
        for (ObjectNode o : objects) {
            problems.addAll(KedaScaledObjects.isScaledObject(o) ? KedaScaledObjects.problems(o)
                    : CertManagerObjects.isCertManager(o) ? CertManagerObjects.problems(o)
                    : KubernetesSchemas.problems(o));
        }
        problems.addAll(CrossReferences.problems(objects, REPO));
        return problems;
    }
}
