package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** The real kustomize, as built into kubectl ({@code kubectl kustomize DIR}), where kubectl is on the PATH. */
final class KubectlKustomize {
    private KubectlKustomize() {
    }

    static Optional<Path> kubectl() {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        return Arrays.stream(path.split(File.pathSeparator)).map(d -> Path.of(d, "kubectl"))
                .filter(Files::isExecutable).findFirst();
    }

    /** Its version line, for the test report: "Client Version: v1.32.4" and "Kustomize Version: v5.5.0". */
    static String version(Path kubectl) {
        return run(List.of(kubectl.toString(), "version", "--client"), "kubectl version").strip().replace('\n', ',');
    }

    static List<ObjectNode> build(Path kubectl, Path dir) {
        return Yaml.objects(run(List.of(kubectl.toString(), "kustomize", dir.toString()), "kubectl kustomize " + dir),
                "kubectl kustomize " + dir);
    }

    private static String run(List<String> command, String what) {
        try {
            Path out = Files.createTempFile("kubectl", ".out");
            Path err = Files.createTempFile("kubectl", ".err");
            try {
                Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                        .start();
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(what + " did not finish in 120 s");
                }
                if (p.exitValue() != 0) throw new IllegalStateException(what + " failed (exit " + p.exitValue() + "): "
                        + Files.readString(err, StandardCharsets.UTF_8));
                return Files.readString(out, StandardCharsets.UTF_8);
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new IllegalStateException(what + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(what + ": interrupted", e);
        }
    }
}
