package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code mesh bench --mesh N --speculative-tokens K}: the local figures, then the mesh's, plain and drafting, each
 * drafting figure with the acceptance the attention service counted (its gRPC stats).
 */
class MeshBenchTest {

    @Test
    void speculativeFiguresComeFromTheSingleProcessAndTheMesh() throws Exception {
        // drafts the main model always accepts
        Path model = TestModels.predictable(Preset.TINY_V3, 1.0);
        String jvm = "-Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";
        PrintStream out = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            code = MeshCli.run("bench", "--model", model.toString(), "--batches", "1,2", "--prompt-tokens", "8",
                    "--decode-tokens", "12", "--repeat", "1", "--speculative-tokens", "1", "--mesh", "2",
                    "--expert-java-opts", jvm, "--attention-java-opts", jvm);
        } finally {
            System.setOut(out);
        }
        assertEquals(0, code);
        String[] lines = printed.toString(StandardCharsets.UTF_8).strip().split("\n");
        JsonNode figures = new ObjectMapper().readTree(lines[lines.length - 1]);
        for (String prefix : new String[] {"", "mesh_2_mb1_", "mesh_2_mb2_"}) {
            for (int batch : new int[] {1, 2}) {
                String key = prefix + "decode_batch_" + batch;
                assertTrue(figures.path(key + "_tokens_per_s").asDouble() > 0, key + " in " + figures);
                assertTrue(figures.path(key + "_speculative_tokens_per_s").asDouble() > 0, key + " in " + figures);
                assertEquals(1.0, figures.path(key + "_speculative_acceptance_rate").asDouble(), key + " in " + figures);
                // one draft a step, every one accepted: 2 tokens a step but the last of 11 decoded (11 / 6 = 1.83)
                assertTrue(figures.path(key + "_speculative_tokens_per_step").asDouble() > 1.5, key + " in " + figures);
            }
        }
    }
}
