package dev.moemesh.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The committed fatbin is what build-kernels.sh makes of experts.cu, wherever the nvcc that made it is present. */
class KernelResourceTest {
    private static final Path MODULE = Path.of("").toAbsolutePath();
    private static final Path RESOURCES = MODULE.resolve("src/main/resources/dev/moemesh/cuda");

    @Test
    void committedFatbinIsCurrent(@TempDir Path out) throws Exception {
        assumeTrue(Files.exists(MODULE.resolve("src/main/cuda/experts.cu")), "not run from the cuda-experts module");
        String nvcc = run(MODULE, "nvcc", "--version");
        assumeTrue(nvcc != null, "nvcc is not on the PATH: the committed fatbin is used as it is");
        String committedBy = Files.readString(RESOURCES.resolve("experts.fatbin.nvcc")).strip();
        assumeTrue(nvcc.contains(committedBy), "the committed fatbin was built by nvcc " + committedBy
                + "; this nvcc differs, so its bytes would too");
        assertEquals("", run(MODULE, "./build-kernels.sh", out.toString()), "build-kernels.sh output");
        assertTrue(Arrays.equals(Files.readAllBytes(RESOURCES.resolve(ExpertKernels.RESOURCE)),
                        Files.readAllBytes(out.resolve(ExpertKernels.RESOURCE))),
                "src/main/resources/dev/moemesh/cuda/experts.fatbin is stale: run cuda-experts/build-kernels.sh");
    }

    @Test
    void jarCarriesTheKernels() {
        assertTrue(ExpertKernels.image().length > 0);
    }

    /** Standard output of a command that succeeds, or null when it cannot be started. */
    private static String run(Path dir, String... command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException notFound) {
            return null;
        }
        String output = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), String.join(" ", command) + " did not finish");
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + output);
        return output;
    }
}
