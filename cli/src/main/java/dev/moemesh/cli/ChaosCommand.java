package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.scenario.ChaosRun;
import dev.moemesh.load.scenario.Target;
import dev.moemesh.load.workload.Workload;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code mesh chaos}: one fault under steady load of the mesh's doors ({@code mesh up}'s ports by default). Kills a
 * process {@code mesh up} started (SIGKILL) part-way, then prints what each door's clients saw; exits 0 only when no
 * door lost, failed, repeated or changed an answer.
 */
@Command(name = "chaos", mixinStandardHelpOptions = true,
        description = "Kill one process of a running mesh (mesh up) under steady greedy load of its doors and count,"
                + " per door: sent, answered, answered with wrong tokens, failures by kind, lost (no terminal event),"
                + " repeated terminal events, the longest stall a client saw. Exit code 0 only when all are clean.")
final class ChaosCommand implements Callable<Integer> {
    @Mixin
    DoorOptions doorOptions;

    @Option(names = "--kill", description = "the process to kill, by the name mesh up printed (expert-service-2,"
            + " attention-service-2, orchestrator-2, router-service, ...); read from <home>/processes")
    String kill;

    @Option(names = "--kill-pid", description = "the process to kill, by pid (instead of --kill)")
    Long killPid;

    @Option(names = "--after", defaultValue = "PT10S", description = "when the kill comes, after the load starts (default 10s)", converter = LoadCommand.Durations.class)
    Duration after;

    @Option(names = "--duration", defaultValue = "PT40S", description = "how long each door sends (default 40s)", converter = LoadCommand.Durations.class)
    Duration duration;

    @Option(names = "--drain", defaultValue = "PT60S", description = "how long answers are awaited after sending stops (default 60s)", converter = LoadCommand.Durations.class)
    Duration drain;

    @Option(names = "--deadline", defaultValue = "PT120S", description = "a REST or gRPC client's deadline per request (default 120s)", converter = LoadCommand.Durations.class)
    Duration deadline;

    @Option(names = "--doors", split = ",", defaultValue = "rest,grpc,kafka", description = "the doors loaded at once (default ${DEFAULT-VALUE})")
    List<String> doors = new ArrayList<>();

    @Option(names = "--arrivals", defaultValue = "poisson:4", description = "each door's arrivals: poisson:RATE | fixed:RATE | closed:CLIENTS (default ${DEFAULT-VALUE})")
    String arrivals;

    @Option(names = "--distinct", defaultValue = "16", description = "distinct requests, repeated at random; each is answered once before the fault, the reference every later answer is checked against (default ${DEFAULT-VALUE})")
    int distinct;

    @Option(names = "--client-resume", description = "REST and gRPC clients go on from the next token at another"
            + " router (--rest/--grpc list several) when a stream breaks part-way, as a client of routers that may"
            + " die would; counted as resumed. Without it such a stream is a failure")
    boolean clientResume;

    @Option(names = "--home", defaultValue = ".mesh", description = "mesh up's home: its process list, and where the result goes (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--out", description = "the result's file (default: <home>/chaos/<time>.json)")
    Path out;

    @Override
    public Integer call() throws IOException {
        if ((kill == null) == (killPid == null)) throw new IllegalArgumentException("give --kill NAME or --kill-pid PID");
        ProcessHandle victim = kill != null ? MeshPids.find(home, kill)
                : ProcessHandle.of(killPid).orElseThrow(() -> new IllegalArgumentException("no process " + killPid));
        String fault = "SIGKILL " + (kill != null ? kill : "pid") + " (pid " + victim.pid() + ")";
        Path dir = doorOptions.model(home);
        int vocabulary = ModelConfig.load(dir).vocabSize();
        Workload workload = new Workload(doorOptions.prompt(), doorOptions.output(), List.of(), vocabulary, 0,
                doorOptions.seed, distinct);
        Target target = new Target(doorOptions.rest, doorOptions.grpc, doorOptions.kafka, dir.getFileName().toString(),
                vocabulary, Map.of());
        ChaosRun run = new ChaosRun(target, workload, Arrivals.parse(arrivals), duration, drain, deadline,
                clientResume, System.out);
        ChaosRun.Outcome outcome = run.run(doors, doors.contains("grpc") ? "grpc" : doors.get(0), after, fault, () -> {
            victim.destroyForcibly();
            victim.onExit().get(10, TimeUnit.SECONDS);
        });
        System.out.printf(Locale.ROOT, "%s at %.1f s%n", outcome.fault(), outcome.faultAtMs() / 1000);
        System.out.printf(Locale.ROOT, "%-6s %6s %8s %6s %5s %9s %8s %6s %8s  %s%n", "door", "sent", "answered",
                "wrong", "lost", "repeated", "stall_s", "again", "resumed", "failures");
        boolean clean = outcome.faultAtMs() >= 0;
        for (ChaosRun.DoorTally d : outcome.doors()) {
            System.out.printf(Locale.ROOT, "%-6s %6d %8d %6d %5d %9d %8.1f %6d %8d  %s%n", d.door(), d.sent(),
                    d.answered(), d.wrong(), d.lost(), d.repeatedTerminalEvents(), d.longestStallMs() / 1000,
                    d.sentAgain(), d.resumed(), d.failures().isEmpty() ? "none" : d.failures());
            if (d.unchecked() > 0) System.out.printf("       %d answers came without token ids (not checked)%n", d.unchecked());
            clean &= d.clean();
        }
        Path file = out != null ? out : home.resolve("chaos").resolve(
                DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(Instant.now()) + ".json");
        if (file.getParent() != null) Files.createDirectories(file.getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), ChaosRun.toJson(outcome));
        System.out.println((clean ? "clean" : "NOT clean") + "; the figures in " + file);
        return clean ? 0 : 3;
    }
}
