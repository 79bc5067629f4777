package dev.moemesh.cli;

import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.LocalEngine;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code mesh demo}: writes the tiny model on first run, starts a local mesh on it (two expert services and an
 * attention service, each its own process), sends a prompt through the mesh and through the single-process
 * engine, prints both and stops the mesh.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Write the tiny V3-shaped model (first run only), start a local mesh on it, generate through"
                + " the mesh and with the single-process engine, and print both.")
final class DemoCommand implements Callable<Integer> {
    private static final String PROMPT = "The mesh";

    @Option(names = "--home", defaultValue = ".mesh", description = "where models and logs are kept (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--expert-services", defaultValue = "2", description = "expert service processes (default ${DEFAULT-VALUE})")
    int expertServices;

    @Override
    public Integer call() {
        Path dir = UpCommand.tinyModel(home);
        int[] prompt;
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            prompt = t.encode(PROMPT, true);
        }
        SamplingParams sampling = SamplingParams.greedy(16);
        Generation local = new LocalEngine(Model.load(dir, 0), EngineOptions.defaults())
                .generate(List.of(new GenerationRequest("demo-local", prompt, sampling))).get(0);

        Generation meshed;
        try (LocalMesh mesh = new LocalMesh(LocalMesh.home(), home.resolve("logs"), List.of("-Xmx512m"))) {
            int experts = dev.moemesh.core.model.ModelConfig.load(dir).nRoutedExperts();
            List<String> addresses = new ArrayList<>();
            for (int i = 0; i < expertServices; i++) {
                String slice = LocalMesh.slice(i, expertServices, experts);
                LocalMesh.Service s = mesh.startExpertService("demo-experts-" + (i + 1), dir, slice,
                        LocalMesh.freePort(), Duration.ofMinutes(3));
                addresses.add(s.address());
                System.err.printf("expert service %d on %s holds experts %s%n", i + 1, s.address(), slice);
            }
            LocalMesh.Service attention = mesh.startAttentionService("demo-attention", dir, addresses,
                    LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
            System.err.printf("attention service on %s; prompt \"%s\" through the mesh%n", attention.address(), PROMPT);
            try (MeshClient client = new MeshClient(attention.address())) {
                meshed = client.generate(new GenerationRequest("demo-mesh", prompt, sampling), ModelFingerprint.of(dir));
            }
        }
        String text;
        try (Tokenizer t = Tokenizer.load(dir).orElseThrow()) {
            text = t.decode(meshed.tokenIds(), true);
        }
        boolean same = Arrays.equals(local.tokenIds(), meshed.tokenIds());
        System.err.printf("single-process engine: %s%nmesh:                  %s%nsame tokens: %s%n",
                Arrays.toString(local.tokenIds()), Arrays.toString(meshed.tokenIds()), same ? "yes" : "NO");
        System.out.println(GenerateCommand.toJson(meshed, text));
        return same && meshed.error() == null ? 0 : 1;
    }
}
