package dev.moemesh.cli;

import dev.moemesh.load.workload.Lengths;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The options {@code mesh load} and {@code mesh chaos} share (a picocli mixin): where the running mesh's doors
 * listen ({@code mesh up}'s ports by default), the served model, and the requests' sizes and seed.
 */
final class DoorOptions {
    @Option(names = "--rest", defaultValue = "http://localhost:8080", description = "the router's REST root, or several routers' comma-separated, taken in turn (default ${DEFAULT-VALUE})")
    String rest;

    @Option(names = "--grpc", defaultValue = "localhost:9300", description = "the router's gRPC address, or several routers' comma-separated, taken in turn (default ${DEFAULT-VALUE})")
    String grpc;

    @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Kafka bootstrap servers (default ${DEFAULT-VALUE})")
    String kafka;

    @Option(names = "--model", description = "checkpoint directory: the served model's name and vocabulary (default: mesh up's tiny model)")
    Path model;

    @Option(names = "--prompt-tokens", defaultValue = "uniform:8-32", description = "fixed:N | uniform:MIN-MAX (default ${DEFAULT-VALUE})")
    String promptTokens;

    @Option(names = "--output-tokens", defaultValue = "fixed:16", description = "fixed:N | uniform:MIN-MAX (default ${DEFAULT-VALUE})")
    String outputTokens;

    @Option(names = "--seed", defaultValue = "1", description = "the workload's seed (default ${DEFAULT-VALUE})")
    long seed;

    /** The checkpoint given, or {@code mesh up}'s tiny model under {@code home}. */
    Path model(Path home) {
        return model != null ? model : UpCommand.tinyModel(home);
    }

    Lengths prompt() {
        return Lengths.parse(promptTokens);
    }

    Lengths output() {
        return Lengths.parse(outputTokens);
    }
}
