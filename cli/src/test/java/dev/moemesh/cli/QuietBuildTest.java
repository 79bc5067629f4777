package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moemesh.localmesh.LocalMesh;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * A newcomer's first {@code ./mesh} builds the project with Maven; on JDK 24+ Maven's own Guice would print a screen
 * of {@code sun.misc.Unsafe} warnings before anything else unless the environment {@code ./mesh} and CI set up
 * (.mvn/find-jdk.sh) allows it. Runs Maven on the root POM with this test's JDK, as {@code ./mesh} does.
 */
class QuietBuildTest {

    @Test
    void mavenStartsWithoutJdkWarnings() throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", ". .mvn/find-jdk.sh && ./mvnw -B -q -N validate")
                .directory(LocalMesh.home().toFile()).redirectErrorStream(true);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("MAVEN_OPTS");
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(2, TimeUnit.MINUTES)) p.destroyForcibly();
        assertEquals(0, p.exitValue(), output);
        assertEquals("", output.strip(), "Maven printed, though quiet:\n" + output);
    }
}
