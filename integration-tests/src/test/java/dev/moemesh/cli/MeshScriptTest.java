package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./mesh} as a user runs it, the script and the JVM options it picks: {@code generate --json} writes its one
 * JSON line and nothing else to standard output, on the first run after a build as on every later one, and standard
 * error holds nothing but the Vector API's notice (and, on the first run, the line saying it builds, when a source
 * is newer than the CLI's jar: once, never again on the next run).
 */
class MeshScriptTest {

    private record Run(int code, String out, String err) {}

    private static Run mesh(Path tmp, String... args) throws IOException, InterruptedException {
        Path out = tmp.resolve("out.txt"), err = tmp.resolve("err.txt");
        ProcessBuilder pb = new ProcessBuilder(new java.util.ArrayList<>(List.of("./mesh")));
        pb.command().addAll(List.of(args));
        pb.directory(LocalMesh.home().toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("MAVEN_OPTS");
        Process p = pb.start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) p.destroyForcibly();
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void generateJsonIsTheOnlyLineOnStandardOutput(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        for (int run = 0; run < 2; run++) {
            Run r = mesh(tmp, "generate", "--model", TestModels.tiny(Preset.TINY_V3).toString(), "--prompt-ids",
                    "0,17,42", "--max-tokens", "4", "--temperature", "0", "--json");
            assertEquals(0, r.code(), r.err());
            assertEquals(1, r.out().lines().count(), "run " + run + " wrote more than its JSON line:\n" + r.out());
            JsonNode json = new ObjectMapper().readTree(r.out());
            assertEquals(4, json.get("token_ids").size(), r.out());
            // the first run builds when a source is newer than the CLI's jar (a build of the reactor leaves that jar
            // as it was when only another module changed); the second never does
            boolean mayBuild = run == 0;
            assertTrue(r.err().lines().allMatch(l -> l.equals("WARNING: Using incubator modules: jdk.incubator.vector")
                    || mayBuild && l.startsWith("building the mesh (")), "run " + run + " wrote to stderr:\n" + r.err());
        }
    }
}
