package dev.moemesh.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code mesh demo}: writes the tiny model on first run and generates from it. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Write the tiny V3-shaped model (first run only) and generate from it with the single-process engine.")
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--home", defaultValue = ".mesh", description = "where models are kept (default ${DEFAULT-VALUE})")
    Path home;

    @Override
    public Integer call() {
        Path dir = UpCommand.tinyModel(home);
        System.err.println("generate --model " + dir + " --prompt \"The mesh\" --max-tokens 16 --json");
        GenerateCommand generate = new GenerateCommand();
        generate.model = dir;
        generate.prompt = "The mesh";
        generate.maxTokens = 16;
        generate.topP = 1f;
        generate.json = true;
        return generate.call();
    }
}
