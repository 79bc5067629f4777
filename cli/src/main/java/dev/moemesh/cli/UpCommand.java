package dev.moemesh.cli;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import dev.moemesh.core.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code mesh up}: a local mesh of an attention service and N expert services, each its own process. */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = "Start a local mesh: N expert services, each holding a disjoint slice of the routed experts,"
                + " and one attention service using them; prints where each listens and runs until interrupted.")
final class UpCommand implements Callable<Integer> {

    @Option(names = "--model", description = "checkpoint directory (default: the tiny model under --home, written on first run)")
    Path model;

    @Option(names = "--home", defaultValue = ".mesh", description = "models and logs (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--expert-services", defaultValue = "2", description = "expert service processes (default ${DEFAULT-VALUE})")
    int expertServices;

    @Option(names = "--port", defaultValue = "9200", description = "attention service gRPC port (default ${DEFAULT-VALUE});"
            + " expert services take the ports after it")
    int port;

    @Option(names = "--max-seq-len", defaultValue = "0", description = "served context (default: the config's)")
    int maxSeqLen;

    @Option(names = "--service-java-opts", defaultValue = "-Xmx2g",
            description = "JVM options of each service process (default ${DEFAULT-VALUE})")
    String serviceJavaOpts;

    @Override
    public Integer call() throws InterruptedException {
        if (expertServices < 1) throw new IllegalArgumentException("--expert-services must be at least 1");
        Path dir = model != null ? model : tinyModel(home);
        int experts = ModelConfig.load(dir).nRoutedExperts();
        LocalMesh.slice(0, expertServices, experts); // refuses a split that cannot be made, before anything starts
        List<String> options = serviceJavaOpts.isBlank() ? List.of() : Arrays.asList(serviceJavaOpts.strip().split("\\s+"));
        LocalMesh mesh = new LocalMesh(LocalMesh.home(), home.resolve("logs"), options);
        Runtime.getRuntime().addShutdownHook(new Thread(mesh::close));
        List<String> addresses = new ArrayList<>();
        for (int i = 0; i < expertServices; i++) {
            String slice = LocalMesh.slice(i, expertServices, experts);
            LocalMesh.Service s = mesh.startExpertService("expert-service-" + (i + 1), dir, slice, port + 1 + i,
                    Duration.ofMinutes(5));
            addresses.add(s.address());
            System.out.printf("expert-service-%d     %s  experts %-12s pid %d  log %s%n", i + 1, s.address(), slice,
                    s.process().pid(), s.log());
        }
        List<String> props = maxSeqLen > 0 ? List.of("-Dattention.max-seq-len=" + maxSeqLen) : List.of();
        LocalMesh.Service attention = mesh.startAttentionService("attention-service", dir, addresses, port, props,
                Duration.ofMinutes(5));
        System.out.printf("attention-service     %s  model %s  pid %d  log %s%n", attention.address(), dir,
                attention.process().pid(), attention.log());
        System.out.printf("ready: ./mesh generate --target %s --model %s --prompt-ids 0,17,42 --max-tokens 24 --json%n",
                attention.address(), dir);
        System.out.flush();
        new CountDownLatch(1).await(); // until interrupted; the shutdown hook stops the services
        return 0;
    }

    /** The tiny V3-shaped model under {@code home}, written on first use. */
    static Path tinyModel(Path home) {
        Path dir = home.resolve("models").resolve(Preset.TINY_V3.cliName());
        if (!Files.exists(dir.resolve("config.json"))) {
            RandomCheckpoint.write(dir, Preset.TINY_V3, 1, false);
            System.err.println("wrote the tiny model to " + dir);
        }
        return dir;
    }
}
