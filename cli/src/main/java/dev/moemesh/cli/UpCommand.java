package dev.moemesh.cli;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.localmesh.LocalMesh;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code mesh up}: the whole mesh on this machine, each part its own process: a Kafka broker, the orchestrator (Kafka
 * door and control plane), N expert services, an attention service following the placement, and the router (gRPC
 * and REST doors).
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = "Start a local mesh: a Kafka broker, the orchestrator (Kafka door and control plane), N expert"
                + " services (each starting with a disjoint slice of the routed experts), an attention service"
                + " following the control plane's placement, and the router; prints where each listens and runs"
                + " until interrupted.")
final class UpCommand implements Callable<Integer> {

    @Option(names = "--model", description = "checkpoint directory (default: the tiny model under --home, written on first run)")
    Path model;

    @Option(names = "--home", defaultValue = ".mesh", description = "models, the broker's data and logs (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--expert-services", defaultValue = "2", description = "expert service processes (default ${DEFAULT-VALUE})")
    int expertServices;

    @Option(names = "--attention-services", defaultValue = "1", description = "attention service processes"
            + " (default ${DEFAULT-VALUE}); the first on --port, the others on free ports; both doors use them all")
    int attentionServices;

    @Option(names = "--orchestrators", defaultValue = "1", description = "orchestrator processes (default"
            + " ${DEFAULT-VALUE}): Kafka doors of one consumer group; the mesh follows the first one's control plane")
    int orchestrators;

    @Option(names = "--routers", defaultValue = "1", description = "router processes (default ${DEFAULT-VALUE}):"
            + " the first on 9300 (gRPC) and 8080 (REST), the others on free ports; each over every attention service")
    int routers;

    @Option(names = "--port", defaultValue = "9200", description = "attention service gRPC port (default ${DEFAULT-VALUE});"
            + " expert services take the ports after it")
    int port;

    @Option(names = "--experts-only", description = "start only the expert services and the attention service"
            + " (no broker, orchestrator or router; the attention service asks the expert services what they hold)")
    boolean expertsOnly;

    @Option(names = "--max-seq-len", defaultValue = "0", description = "served context (default: the config's)")
    int maxSeqLen;

    @Option(names = "--service-java-opts", defaultValue = "-Xmx2g",
            description = "JVM options of each service process (default ${DEFAULT-VALUE})")
    String serviceJavaOpts;

    @Option(names = "--restart-after", converter = LoadCommand.Durations.class, description = "start a service"
            + " that exits (a crash, mesh chaos's kill) again this long after, as Kubernetes restarts a crashed pod,"
            + " with the same ports and properties (default: never; the broker is never restarted)")
    Duration restartAfter;

    @Option(names = "--tls", description = "mutual TLS inside the mesh: a new local CA and a certificate per process"
            + " naming its role, under --home/tls (the doors for clients stay as they are)")
    boolean tls;

    @Override
    public Integer call() throws InterruptedException {
        if (expertServices < 1) throw new IllegalArgumentException("--expert-services must be at least 1");
        Path dir = model != null ? model : tinyModel(home);
        LocalMesh.slice(0, expertServices, ModelConfig.load(dir).nRoutedExperts()); // before anything starts
        List<String> options = serviceJavaOpts.isBlank() ? List.of() : Arrays.asList(serviceJavaOpts.strip().split("\\s+"));
        LocalMesh mesh = new LocalMesh(LocalMesh.home(), home.resolve("logs"), options);
        Runtime.getRuntime().addShutdownHook(new Thread(mesh::close));
        if (tls) {
            mesh.overTls(home.resolve("tls"));
            System.out.printf("mutual TLS inside the mesh: the CA and each process's certificate in %s (PKCS12,"
                    + " password %s; operator.p12 for tools)%n", home.resolve("tls"), LocalMesh.TLS_STORE_PASSWORD);
        }
        List<String> props = maxSeqLen > 0 ? List.of("-Dattention.max-seq-len=" + maxSeqLen) : List.of();
        MeshProcesses p = MeshProcesses.start(mesh, home, dir, expertServices, attentionServices, orchestrators,
                routers, MeshProcesses.Ports.defaults(port, !expertsOnly), props, System.out);
        MeshPids.write(home, mesh.services());
        if (restartAfter != null) {
            for (LocalMesh.Service s : mesh.services()) {
                if (s.httpPort() > 0) Thread.ofPlatform().daemon().name("restart-" + s.name()).start(() -> restarting(mesh, s));
            }
        }
        if (!tls) {
            System.out.printf("ready: ./mesh generate --target %s --model %s --prompt-ids 0,17,42 --max-tokens 24"
                    + " --json%n", p.attention().address(), dir);
        }
        if (p.router() != null) {
            String name = dir.getFileName().toString();
            boolean text = Files.exists(dir.resolve("tokenizer.json"));
            System.out.printf("       curl -s %s/v1/completions -H 'Content-Type: application/json'"
                    + " -d '{\"model\":\"%s\",\"prompt\":%s,\"max_tokens\":16}'%n", p.restBase(), name,
                    text ? "\"Hello\"" : "[0,17,42]");
            System.out.printf("       a JSON record on inference.requests at %s, e.g. {\"id\":\"r1\",%s,"
                    + "\"max_tokens\":16}; answers on inference.responses%n", p.broker().address(),
                    text ? "\"prompt\":\"Hello\"" : "\"prompt_token_ids\":[0,17,42]");
            if (!text) System.out.printf("       (no tokenizer.json in %s: prompts as token ids only)%n", dir);
            if (p.routers().size() > 1) {
                System.out.printf("       the routers for a client that takes them in turn (mesh load, mesh chaos): --rest %s"
                        + " --grpc %s%n", String.join(",", p.routers().stream().map(MeshProcesses::restBase).toList()),
                        String.join(",", p.routers().stream().map(LocalMesh.Service::address).toList()));
            }
        }
        System.out.flush();
        new CountDownLatch(1).await(); // until interrupted; the shutdown hook stops the services
        return 0;
    }

    /** Starts {@code s} again each time it exits, {@code --restart-after} later, until the mesh stops. */
    private void restarting(LocalMesh mesh, LocalMesh.Service s) {
        while (true) {
            int code = s.process().onExit().join().exitValue();
            if (mesh.closing()) return;
            System.out.printf("%s (pid %d) exited with code %d: starting it again in %d ms%n", s.name(), s.process().pid(),
                    code, restartAfter.toMillis());
            try {
                Thread.sleep(restartAfter.toMillis());
                s = mesh.restart(s, Duration.ofMinutes(5));
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (!mesh.closing()) System.out.printf("%s could not be started again: %s%n", s.name(), e.getMessage());
                return;
            }
            MeshPids.write(home, mesh.services());
            System.out.printf("%-21s %-15s  pid %-7d  started again, ready%n", s.name(), s.address(), s.process().pid());
        }
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
