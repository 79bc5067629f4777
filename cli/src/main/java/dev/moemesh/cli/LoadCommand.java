package dev.moemesh.cli;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.load.report.Report;
import dev.moemesh.load.report.ReportWriter;
import dev.moemesh.load.report.Slo;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.scenario.ChaosHook;
import dev.moemesh.load.scenario.LoadSettings;
import dev.moemesh.load.scenario.Scenarios;
import dev.moemesh.load.scenario.Target;
import dev.moemesh.load.workload.Workload;
import dev.moemesh.localmesh.LocalMesh;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code mesh load}: a load scenario (the load-tests module) against a running mesh ({@code mesh up}'s ports by
 * default, or any addresses) or, with {@code --up}, against a mesh it starts on free ports and stops afterwards.
 */
@Command(name = "load", mixinStandardHelpOptions = true,
        description = "Run a load scenario against the mesh's doors and write report.json, report.html and plots:"
                + " step (one setting), sweep (to saturation: knee, max goodput), compare (Kafka vs gRPC at 50%% of"
                + " saturation), overload (3x saturation at each door), soak (70%% of saturation), skew (prompts of a"
                + " few token ids).")
final class LoadCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", defaultValue = "step", description = "step | sweep | compare | overload | soak | skew (default ${DEFAULT-VALUE})")
    String scenario;

    @Mixin
    DoorOptions doorOptions;

    @Option(names = "--door", defaultValue = "grpc", description = "rest | grpc | kafka, for step, sweep, soak and skew (default ${DEFAULT-VALUE})")
    String door;

    @Option(names = "--arrivals", defaultValue = "poisson:2", description = "poisson:RATE | fixed:RATE | closed:CLIENTS; the rate is step's, other scenarios set theirs (default ${DEFAULT-VALUE})")
    String arrivals;

    @Option(names = "--duration", defaultValue = "PT20S", description = "how long each step sends, ISO-8601 or e.g. 20s (default 20s)", converter = Durations.class)
    Duration duration;

    @Option(names = "--drain", defaultValue = "PT60S", description = "how long answers are awaited after a step (default 60s; Kafka steps get 3 step lengths more)", converter = Durations.class)
    Duration drain;

    @Option(names = "--warmup", defaultValue = "PT20S", description = "light load (4 clients) through each door before measuring, not reported (default 20s)", converter = Durations.class)
    Duration warmup;

    @Option(names = "--soak", defaultValue = "PT30M", description = "the soak's length (default 30m)", converter = Durations.class)
    Duration soak;

    @Option(names = "--rates", split = ",", description = "the sweep's offered rates, requests/s (default: from --start-rate, doubling until saturated)")
    List<Double> rates = new ArrayList<>();

    @Option(names = "--start-rate", defaultValue = "1", description = "the sweep's first rate when --rates is not given (default ${DEFAULT-VALUE})")
    double startRate;

    @Option(names = "--saturation", defaultValue = "0", description = "requests/s at saturation for compare, overload, soak, skew (default: measured with a sweep first)")
    double saturation;

    @Option(names = "--repeats", defaultValue = "2", description = "how many times compare alternates gRPC and Kafka (default ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--trace", description = "a file of request sizes, one 'prompt_tokens,output_tokens' a line (instead of the two above)")
    Path trace;

    @Option(names = "--slo-ttft-ms", defaultValue = "1000", description = "goodput's time-to-first-token limit (default ${DEFAULT-VALUE})")
    double sloTtftMs;

    @Option(names = "--slo-tpot-ms", defaultValue = "200", description = "goodput's time-per-output-token limit (default ${DEFAULT-VALUE})")
    double sloTpotMs;

    @Option(names = "--watch", split = ",", description = "services whose /q/metrics to sample, NAME=HTTP_ROOT (default: router and orchestrator at mesh up's ports; with --up every service)")
    Map<String, String> watch = new LinkedHashMap<>();

    @Option(names = "--up", description = "start a local mesh on free ports (as mesh up) for this run and stop it after")
    boolean up;

    @Option(names = "--expert-services", defaultValue = "2", description = "with --up: expert service processes (default ${DEFAULT-VALUE}); 0: the attention service computes"
            + " the routed experts itself, the single-process engine behind the same doors")
    int expertServices;

    @Option(names = "--service-java-opts", defaultValue = "-Xmx1g", description = "with --up: JVM options of each service (default ${DEFAULT-VALUE})")
    String serviceJavaOpts;

    @Option(names = "--attention-opts", split = " ", description = "with --up: extra attention-service properties, e.g. -Dattention.max-queued-requests=32")
    List<String> attentionOpts = new ArrayList<>();

    @Option(names = "--home", defaultValue = ".mesh", description = "models, logs and reports (default ${DEFAULT-VALUE})")
    Path home;

    @Option(names = "--out", description = "the report's directory (default: <home>/load/<scenario>-<time>)")
    Path out;

    @Override
    public Integer call() {
        if (!Scenarios.NAMES.contains(scenario)) {
            throw new IllegalArgumentException("no scenario '" + scenario + "': one of " + Scenarios.NAMES);
        }
        Path dir = doorOptions.model(home);
        int vocabulary = ModelConfig.load(dir).vocabSize();
        Workload workload = new Workload(doorOptions.prompt(), doorOptions.output(),
                trace == null ? List.of() : Workload.readTrace(trace), vocabulary, 0, doorOptions.seed);
        LoadSettings settings = new LoadSettings(door, Arrivals.parse(arrivals), workload, duration, drain,
                new Slo(sloTtftMs, sloTpotMs), rates, startRate, saturation, soak, repeats, Duration.ofMinutes(5), warmup);
        String started = DateTimeFormatter.ISO_INSTANT.format(Instant.now());
        Path reportDir = out != null ? out : home.resolve("load").resolve(scenario + "-"
                + DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(Instant.now()));
        LocalMesh mesh = null;
        try {
            Target target;
            if (up) {
                List<String> options = serviceJavaOpts.isBlank() ? List.of() : Arrays.asList(serviceJavaOpts.strip().split("\\s+"));
                mesh = new LocalMesh(LocalMesh.home(), reportDir.resolve("logs"), options);
                Runtime.getRuntime().addShutdownHook(new Thread(mesh::close));
                MeshProcesses p = MeshProcesses.start(mesh, home, dir, expertServices, MeshProcesses.Ports.free(),
                        attentionOpts, System.out);
                Map<String, String> services = new LinkedHashMap<>();
                for (LocalMesh.Service s : mesh.services()) {
                    if (s.httpPort() != 0) services.put(s.name(), "http://localhost:" + s.httpPort());
                }
                services.putAll(watch);
                target = new Target(p.restBase(), p.router().address(), p.broker().address(),
                        dir.getFileName().toString(), vocabulary, services);
            } else {
                Map<String, String> services = watch.isEmpty()
                        ? Map.of("router-service", "http://localhost:8080", "orchestrator", "http://localhost:8380") : watch;
                target = new Target(doorOptions.rest, doorOptions.grpc, doorOptions.kafka,
                        dir.getFileName().toString(), vocabulary, services);
            }
            Scenarios.Outcome outcome = new Scenarios(target, settings, ChaosHook.NONE, System.out).run(scenario);
            Map<String, String> where = new LinkedHashMap<>();
            where.put("rest", target.restBase());
            where.put("grpc", target.grpcAddress());
            where.put("kafka", target.kafkaBootstrap());
            where.put("model", target.model());
            Report report = new Report(scenario, "mesh " + String.join(" ", commandLine()), started,
                    Report.Machine.here(), where, outcome.steps(), outcome.summary());
            Path html = ReportWriter.write(report, reportDir);
            System.out.println("summary: " + ReportWriter.JSON.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT).writeValueAsString(outcome.summary()));
            System.out.println("report: " + html + " (and report.json, *.png beside it)");
            return 0;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        } finally {
            if (mesh != null) mesh.close();
        }
    }

    /** The arguments as given, from {@code load} on. */
    private List<String> commandLine() {
        return spec.commandLine().getParseResult().originalArgs();
    }

    /** {@code 20s}, {@code 5m}, {@code 1h}, or ISO-8601 ({@code PT20S}). */
    static final class Durations implements picocli.CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String s) {
            String v = s.strip().toLowerCase(java.util.Locale.ROOT);
            if (v.startsWith("pt") || v.startsWith("p")) return Duration.parse(v.toUpperCase(java.util.Locale.ROOT));
            long n = Long.parseLong(v.substring(0, v.length() - 1));
            return switch (v.charAt(v.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                default -> throw new IllegalArgumentException("a duration is like 20s, 5m, 1h or PT20S, got '" + s + "'");
            };
        }
    }
}
