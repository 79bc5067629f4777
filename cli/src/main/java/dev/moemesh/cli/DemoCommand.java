package dev.moemesh.cli;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.localmesh.LocalMesh;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code mesh demo}: writes the tiny model on first run, starts the whole mesh on it (a Kafka broker, the
 * orchestrator with its control plane, two expert services, an attention service and the router, each its own
 * process, the experts placed by the control plane), sends one prompt through each front door (Kafka, gRPC, REST),
 * prints the three answers beside the single-process engine's, and stops it all.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Write the tiny V3-shaped model (first run only), start a local mesh with its Kafka broker,"
                + " orchestrator and router, send one prompt through Kafka, gRPC and REST, and print the three"
                + " answers beside the single-process engine's.")
final class DemoCommand implements Callable<Integer> {
    private static final String PROMPT = "The mesh";
    private static final int MAX_TOKENS = 16;

    @Option(names = "--home", defaultValue = ".mesh", description = "where models and logs are kept (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--expert-services", defaultValue = "2", description = "expert service processes (default ${DEFAULT-VALUE})")
    int expertServices;

    @Option(names = "--tls", description = "mutual TLS inside the mesh, on a new local CA and role certificates under"
            + " --home/tls")
    boolean tls;

    @Override
    public Integer call() {
        Path dir = UpCommand.tinyModel(home);
        String localText;
        Generation local;
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            local = new BatchingEngine(Model.load(dir, 0), EngineOptions.defaults()).generate(List.of(
                    new GenerationRequest("demo-local", t.encode(PROMPT, true), SamplingParams.greedy(MAX_TOKENS)))).get(0);
            localText = t.decode(local.tokenIds(), true);
        }
        String model = dir.getFileName().toString();
        List<FrontDoors.Answer> answers;
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), home.resolve("logs"), List.of("-Xmx512m"))) {
            if (tls) {
                mesh.overTls(home.resolve("tls"));
                System.err.printf("mutual TLS inside the mesh: a new CA and a certificate per process in %s%n",
                        home.resolve("tls"));
            }
            MeshProcesses p = MeshProcesses.start(mesh, home, dir, expertServices, MeshProcesses.Ports.free(), List.of(),
                    System.err);
            System.err.printf("%s has random weights (written by make-model), so its text is noise: what the demo"
                    + " shows is that Kafka, gRPC and REST through the mesh give the single-process engine's tokens,"
                    + " token for token.%n", model);
            System.err.printf("prompt \"%s\", %d tokens, greedy, through each front door:%n", PROMPT, MAX_TOKENS);
            answers = List.of(
                    FrontDoors.viaKafka(p.broker().address(), "demo-kafka", PROMPT, MAX_TOKENS, Duration.ofMinutes(2)),
                    FrontDoors.viaGrpc(p.router().address(), model, PROMPT, MAX_TOKENS),
                    FrontDoors.viaRest(p.restBase(), model, PROMPT, MAX_TOKENS));
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode out = json.createObjectNode().put("prompt", PROMPT);
        out.set("local", answerJson(json, localText, local.tokenIds(), local.finishReason().name().toLowerCase()));
        System.err.printf("  %-13s %s  %s%n", "local engine", Arrays.toString(local.tokenIds()), quoted(localText));
        boolean same = true;
        for (FrontDoors.Answer a : answers) {
            boolean agrees = a.text().equals(localText)
                    && (a.tokenIds() == null || Arrays.equals(a.tokenIds(), local.tokenIds()));
            same &= agrees;
            out.set(a.door(), answerJson(json, a.text(), a.tokenIds(), a.finishReason()));
            System.err.printf("  %-13s %s  %s%s%n", a.door(),
                    a.tokenIds() == null ? "(text only)" : Arrays.toString(a.tokenIds()), quoted(a.text()),
                    agrees ? "" : "   <- differs from the local engine");
        }
        out.put("same_tokens", same);
        System.err.printf("same tokens: %s%n", same ? "yes" : "NO");
        System.out.println(out);
        return same ? 0 : 1;
    }

    private static ObjectNode answerJson(ObjectMapper json, String text, int[] ids, String finishReason) {
        ObjectNode n = json.createObjectNode().put("text", text).put("finish_reason", finishReason);
        if (ids != null) {
            var array = n.putArray("token_ids");
            for (int id : ids) array.add(id);
        }
        return n;
    }

    /** The text as a JSON string: the tiny model's random tokens include control characters. */
    private static String quoted(String text) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(text)) + "\"";
    }
}
