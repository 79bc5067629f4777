package dev.moemesh.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MeshCliTest {

    /** What one run of the command line printed, and its exit code. */
    record Run(int code, String out, String err) {
        String lastLine() {
            String[] lines = out.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    static synchronized Run run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int code = MeshCli.run(args);
            return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void generateJsonCarriesTheEngineTokensTextAndTimings() throws IOException {
        Path dir = TestModels.tiny(Preset.TINY_V3);
        Run r = run("generate", "--model", dir.toString(), "--prompt-ids", "0,17,42", "--max-tokens", "12",
                "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.lastLine());
        int[] expected = new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults()).generate(List.of(
                new GenerationRequest("x", new int[] {0, 17, 42}, new SamplingParams(12, 0f, 0, 1f, 0, null, true))))
                .get(0).tokenIds();
        assertEquals(expected.length, json.get("token_ids").size());
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], json.get("token_ids").get(i).asInt());
        assertTrue(json.has("text"));
        assertTrue(json.get("prefill_tokens_per_s").asDouble() > 0);
        assertTrue(json.get("decode_tokens_per_s").asDouble() > 0);
        assertEquals("length", json.get("finish_reason").asText());
    }

    @Test
    void textPromptIsTokenizedWithTheCheckpointsTokenizer() throws IOException {
        Path dir = TestModels.tiny(Preset.TINY_V2LITE);
        Run r = run("generate", "--model", dir.toString(), "--prompt", "Hello mesh", "--max-tokens", "4", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.lastLine());
        assertTrue(json.get("prompt_tokens").asInt() >= 2, "BOS plus the text");
    }

    @Test
    void badArgumentsGiveOneLineAndExitCode2() {
        Run r = run("generate", "--model");
        assertEquals(2, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("error: "), r.err());
    }

    @Test
    void anUnknownCommandIsRefusedInOneLineWithExitCode2EvenWithHelp() {
        for (String[] args : new String[][]{{"no-such-command"}, {"no-such-command", "--help"}, {"genrate", "-h"}}) {
            Run r = run(args);
            assertEquals(2, r.code(), String.join(" ", args));
            assertEquals("", r.out(), "no usage text: " + String.join(" ", args));
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("error: unknown command '" + args[0] + "' (commands: generate, "), r.err());
        }
        Run help = run("--help");
        assertEquals(0, help.code());
        assertTrue(help.out().startsWith("Usage: mesh"), help.out());
    }

    @Test
    void aBadOptionNamesTheCommandsHelp() {
        assertTrue(run("generate", "--nope").err().endsWith("(see: mesh generate --help)\n"));
        assertTrue(run("--nope").err().endsWith("(see: mesh --help)\n"));
    }

    @Test
    void missingModelAndBadCheckpointGiveOneLineAndExitCode1(@TempDir Path tmp) throws IOException {
        Run missing = run("generate", "--model", tmp.resolve("nope").toString(), "--prompt-ids", "1");
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("does not exist"), missing.err());

        Path broken = tmp.resolve("broken");
        Files.createDirectories(broken);
        Path source = TestModels.tiny(Preset.TINY_V3);
        try (var files = Files.list(source)) {
            for (Path f : files.toList()) Files.copy(f, broken.resolve(f.getFileName()));
        }
        Path shard;
        try (var files = Files.list(broken)) {
            shard = files.filter(f -> f.toString().endsWith(".safetensors")).findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        Run truncated = run("generate", "--model", broken.toString(), "--prompt-ids", "1");
        assertEquals(1, truncated.code());
        assertEquals(1, truncated.err().strip().lines().count(), truncated.err());
        assertTrue(truncated.err().contains(shard.getFileName().toString()), truncated.err());
        assertFalse(truncated.err().contains("\tat "), "no stack trace");
    }

    @Test
    void outOfVocabularyPromptIsRefused() {
        Run r = run("generate", "--model", TestModels.tiny(Preset.TINY_V3).toString(), "--prompt-ids", "5,100000");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("100000"), r.err());
    }

    @Test
    void makeModelWritesALoadableShardedCheckpoint(@TempDir Path tmp) {
        Path out = tmp.resolve("m");
        Run r = run("make-model", "--preset", "tiny-v2lite", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(out.resolve("config.json")));
        assertTrue(Files.exists(out.resolve("tokenizer.json")));
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")), "written as shards with an index");
        Run again = run("make-model", "--preset", "tiny-v2lite", "--out", out.toString());
        assertEquals(1, again.code());
        Run unknown = run("make-model", "--preset", "huge", "--out", tmp.resolve("x").toString());
        assertEquals(1, unknown.code());
        assertTrue(unknown.err().contains("unknown preset"), unknown.err());
        Run ue8m0 = run("make-model", "--preset", "tiny-v3", "--ue8m0", "--out", tmp.resolve("u").toString());
        assertEquals(1, ue8m0.code(), "power-of-two scales are FP8's");
        assertTrue(ue8m0.err().contains("--fp8"), ue8m0.err());
        assertEquals(0, run("make-model", "--preset", "tiny-v3", "--fp8", "--ue8m0", "--out",
                tmp.resolve("u").toString()).code());
        Run generated = run("generate", "--model", tmp.resolve("u").toString(), "--prompt-ids", "0,17", "--max-tokens",
                "4", "--ignore-eos", "--json");
        assertEquals(0, generated.code(), generated.err());
    }

    @Test
    void makeModelWritesAnMtpLayerThatGenerateDraftsWithForTheSameTokens(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("mtp");
        Run made = run("make-model", "--preset", "tiny-v3", "--mtp-layers", "1", "--out", out.toString());
        assertEquals(0, made.code(), made.err());
        assertEquals(1, new ObjectMapper().readTree(out.resolve("config.json").toFile()).get("num_nextn_predict_layers").asInt());
        String[] generate = {"generate", "--model", out.toString(), "--prompt-ids", "0,17,42", "--max-tokens", "10",
                "--ignore-eos", "--json"};
        Run plain = run(generate);
        String[] speculative = Arrays.copyOf(generate, generate.length + 2);
        speculative[generate.length] = "--speculative-tokens";
        speculative[generate.length + 1] = "2";
        Run drafted = run(speculative);
        assertEquals(0, plain.code(), plain.err());
        assertEquals(0, drafted.code(), drafted.err());
        assertEquals(new ObjectMapper().readTree(plain.lastLine()).get("token_ids"),
                new ObjectMapper().readTree(drafted.lastLine()).get("token_ids"));
        Run noMtp = run("generate", "--model", TestModels.tiny(Preset.TINY_V3).toString(), "--prompt-ids", "1",
                "--speculative-tokens", "1");
        assertEquals(1, noMtp.code());
        assertTrue(noMtp.err().contains("num_nextn_predict_layers"), noMtp.err());
        Run both = run("make-model", "--preset", "tiny-v3", "--predictable", "0.9", "--fp8", "--out",
                tmp.resolve("p").toString());
        assertEquals(1, both.code());
        assertTrue(both.err().contains("--predictable"), both.err());
    }

    @Test
    void expertServicesSplitEachLayerIntoContiguousDisjointSlices() {
        assertEquals("*:0-15", LocalMesh.slice(0, 2, 32));
        assertEquals("*:16-31", LocalMesh.slice(1, 2, 32));
        assertEquals(List.of("*:0-4", "*:5-9", "*:10-15"),
                List.of(LocalMesh.slice(0, 3, 16), LocalMesh.slice(1, 3, 16), LocalMesh.slice(2, 3, 16)));
    }

    @Test
    void upRefusesASplitItCannotMakeBeforeStartingAnything() {
        Path tiny = TestModels.tiny(Preset.TINY_V3);
        Run tooMany = run("up", "--model", tiny.toString(), "--expert-services", "17");
        assertEquals(1, tooMany.code());
        assertTrue(tooMany.err().contains("17 expert services cannot split 16 routed experts per layer"), tooMany.err());
        Run none = run("up", "--model", tiny.toString(), "--expert-services", "0");
        assertEquals(1, none.code());
        assertTrue(none.err().contains("--expert-services must be at least 1"), none.err());
    }

    @Test
    void generateThroughAnAttentionServiceThatIsNotThereIsAOneLineError() {
        Run r = run("generate", "--target", "localhost:" + LocalMesh.freePort(), "--prompt-ids", "1,2", "--json");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("error: attention service localhost:"), r.err());
        assertTrue(r.err().contains("UNAVAILABLE"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
