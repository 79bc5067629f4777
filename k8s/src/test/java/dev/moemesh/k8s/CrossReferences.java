package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;

/**
 * What a schema cannot see: that the objects of one build fit together and fit the services' code
 * ({@link WorkloadReferences}, {@link ControlPlaneReferences}, {@link AutoscalerReferences}, {@link ExpertGroups},
 * {@link CertificateReferences}).
 */
final class CrossReferences {
    private CrossReferences() {
    }

    /** Every problem found, each naming the object and what is wrong; empty when all references resolve. */
    static List<String> problems(List<ObjectNode> objects, Path repo) {
        BuildIndex build = new BuildIndex(objects, repo);
        WorkloadReferences.check(build);
        ControlPlaneReferences.check(build);
        AutoscalerReferences.check(build);
        ExpertGroups.check(build);
        CertificateReferences.check(build, repo);
        return build.problems();
    }
}
