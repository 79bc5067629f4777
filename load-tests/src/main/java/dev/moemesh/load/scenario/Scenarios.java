package dev.moemesh.load.scenario;

import dev.moemesh.load.door.Door;
import dev.moemesh.load.observe.KafkaLag;
import dev.moemesh.load.observe.Sampler;
import dev.moemesh.load.observe.ServiceMetrics;
import dev.moemesh.load.report.ServiceSample;
import dev.moemesh.load.report.StepFigures;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.run.LoadGenerator;
import dev.moemesh.load.run.Step;
import dev.moemesh.load.run.StepRun;
import dev.moemesh.load.workload.Workload;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The load scenarios of docs/benchmarks.md against one {@link Target}: {@code step} (one setting), {@code sweep}
 * (offered load up to saturation: the knee and the max goodput), {@code compare} (Kafka against gRPC at half of
 * saturation: what the Kafka door adds), {@code overload} (3x saturation at each door: refusals, not losses),
 * {@code soak} (70 % of saturation for a long time: heap, threads, file descriptors) and {@code skew} (the same load
 * with prompts of a few token ids: rows pile onto a few experts). Each returns its steps' figures and a summary.
 */
public final class Scenarios {
    public static final List<String> NAMES = List.of("step", "sweep", "compare", "overload", "soak", "skew");

    /** A scenario's steps and what it concludes (names as in docs/benchmarks.md). */
    public record Outcome(List<StepFigures> steps, Map<String, Object> summary) {}

    private final Target target;
    private final LoadSettings settings;
    private final ChaosHook chaos;
    private final PrintStream progress;
    private int stepCount;

    public Scenarios(Target target, LoadSettings settings, ChaosHook chaos, PrintStream progress) {
        this.target = target;
        this.settings = settings;
        this.chaos = chaos;
        this.progress = progress;
    }

    public Outcome run(String scenario) {
        if (!NAMES.contains(scenario)) throw new IllegalArgumentException("no scenario '" + scenario + "': one of " + NAMES);
        warmUp(switch (scenario) {
            case "compare" -> List.of("grpc", "kafka", Target.KAFKA_UNSTREAMED);
            case "overload" -> List.of("rest", "grpc", "kafka");
            default -> List.of(settings.door());
        });
        return switch (scenario) {
            case "step" -> step();
            case "sweep" -> sweep(settings.door());
            case "compare" -> compare();
            case "overload" -> overload();
            case "soak" -> soak();
            case "skew" -> skew();
            default -> throw new IllegalArgumentException("no scenario '" + scenario + "': one of " + NAMES);
        };
    }

    /** Gets the JIT of every process on the path going before anything is measured: a few seconds of light load. */
    private void warmUp(List<String> doors) {
        if (settings.warmup().isZero()) return;
        List<String> all = new ArrayList<>(doors);
        if (settings.saturation() <= 0 && !all.contains("grpc")) all.add("grpc"); // the saturation sweep's door
        for (String door : all) {
            Step step = new Step("warm-up", new Arrivals.Closed(4), settings.workload().withSeed(-1), settings.warmup(),
                    settings.drain());
            progress.printf(Locale.ROOT, "warm-up %-5s %d s (not reported)%n", door, settings.warmup().toSeconds());
            try (Door d = target.door(door, settings.deadline())) {
                new LoadGenerator(d).run(step, "warmup-" + ProcessHandle.current().pid() + "-" + stepCount++);
            }
        }
    }

    private Outcome step() {
        StepFigures f = runStep(settings.door(), settings.arrivals(), settings.workload(), settings.step(), "step");
        return new Outcome(List.of(f), Map.of());
    }

    private Outcome sweep(String door) {
        List<StepFigures> steps = new ArrayList<>();
        List<Double> rates = new ArrayList<>(settings.rates());
        double rate = settings.startRate();
        int saturated = 0;
        for (int i = 0; i < (rates.isEmpty() ? 10 : rates.size()); i++) {
            double r = rates.isEmpty() ? rate : rates.get(i);
            StepFigures f = runStep(door, settings.arrivals().atRate(r), settings.workload(), settings.step(),
                    "sweep " + fmt(r) + " req/s");
            steps.add(f);
            if (rates.isEmpty()) {
                if (isSaturated(f) && ++saturated >= 2) break;
                rate *= 2;
            }
        }
        return new Outcome(steps, sweepSummary(steps));
    }

    /** Past saturation: answered throughput below 90 % of the offered rate, or more than 5 % of requests failed. */
    private static boolean isSaturated(StepFigures f) {
        return f.requestThroughput() < 0.9 * f.offeredRate() || f.failed() > 0.05 * f.sent();
    }

    static Map<String, Object> sweepSummary(List<StepFigures> steps) {
        double saturation = 0;
        double maxGoodput = 0;
        double knee = 0;
        // the lightest step is not the calmest: on a shared machine its tail is often the worst (JIT, idle wake-ups)
        double baseP99 = steps.stream().filter(f -> f.answered() > 0).mapToDouble(f -> f.e2e().p99()).min().orElse(0);
        for (StepFigures f : steps) {
            saturation = Math.max(saturation, f.requestThroughput());
            maxGoodput = Math.max(maxGoodput, f.goodput());
            // the knee: the highest load still served in full with a p99 under three times the best step's
            if (f.requestThroughput() >= 0.95 * f.offeredRate() && f.failed() == 0 && f.e2e().p99() <= 3 * baseP99) {
                knee = Math.max(knee, f.offeredRate());
            }
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("saturation_request_throughput", saturation);
        s.put("knee_offered_rate", knee);
        s.put("max_goodput", maxGoodput);
        return s;
    }

    /** The saturation given in the settings, else measured with a sweep of the gRPC door (its steps are reported too). */
    private double saturation(List<StepFigures> steps, Map<String, Object> summary) {
        if (settings.saturation() > 0) {
            summary.put("saturation_request_throughput", settings.saturation());
            summary.put("saturation_from", "given");
            return settings.saturation();
        }
        Outcome sweep = sweep("grpc");
        steps.addAll(sweep.steps());
        summary.putAll(sweep.summary());
        summary.put("saturation_from", "measured by the sweep above (grpc door)");
        return (double) sweep.summary().get("saturation_request_throughput");
    }

    private Outcome compare() {
        List<StepFigures> steps = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        double rate = 0.5 * saturation(steps, summary);
        summary.put("offered_rate", rate);
        List<Map<String, Object>> pairs = new ArrayList<>();
        for (int i = 0; i < settings.repeats(); i++) {
            Workload w = settings.workload().withSeed(settings.workload().seed() + i);
            StepFigures grpc = runStep("grpc", settings.arrivals().atRate(rate), w, settings.step(), "compare grpc #" + (i + 1));
            StepFigures kafka = runStep("kafka", settings.arrivals().atRate(rate), w, settings.step(), "compare kafka #" + (i + 1));
            StepFigures whole = runStep(Target.KAFKA_UNSTREAMED, settings.arrivals().atRate(rate), w, settings.step(),
                    "compare kafka unstreamed #" + (i + 1));
            steps.add(grpc);
            steps.add(kafka);
            steps.add(whole);
            Map<String, Object> pair = new LinkedHashMap<>();
            pair.put("grpc_e2e_p99_ms", grpc.e2e().p99());
            pair.put("kafka_e2e_p99_ms", kafka.e2e().p99());
            pair.put("kafka_added_e2e_p99_ms", round(kafka.e2e().p99() - grpc.e2e().p99()));
            pair.put("grpc_ttft_p99_ms", grpc.ttft().p99());
            pair.put("kafka_ttft_p99_ms", kafka.ttft().p99());
            pair.put("kafka_added_ttft_p99_ms", round(kafka.ttft().p99() - grpc.ttft().p99()));
            pair.put("kafka_added_e2e_p50_ms", round(kafka.e2e().p50() - grpc.e2e().p50()));
            pair.put("kafka_unstreamed_e2e_p99_ms", whole.e2e().p99());
            pair.put("kafka_unstreamed_added_e2e_p99_ms", round(whole.e2e().p99() - grpc.e2e().p99()));
            pair.put("kafka_unstreamed_added_e2e_p50_ms", round(whole.e2e().p50() - grpc.e2e().p50()));
            pair.put("failed", Map.of("grpc", grpc.failed(), "kafka", kafka.failed(), "kafka_unstreamed", whole.failed()));
            pairs.add(pair);
        }
        summary.put("pairs", pairs);
        return new Outcome(steps, summary);
    }

    private Outcome overload() {
        List<StepFigures> steps = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        double rate = 3 * saturation(steps, summary);
        summary.put("offered_rate", rate);
        Map<String, Object> doors = new LinkedHashMap<>();
        for (String door : List.of("rest", "grpc", "kafka")) {
            StepFigures f = runStep(door, settings.arrivals().atRate(rate), settings.workload(), settings.step(),
                    "overload " + door);
            steps.add(f);
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("sent", f.sent());
            d.put("answered", f.answered());
            d.put("refused", f.refused());
            d.put("no_answer", f.errors().getOrDefault("no_answer", 0L));
            d.put("other_failures", f.failed() - f.refused() - f.errors().getOrDefault("no_answer", 0L));
            d.put("errors", f.errors());
            d.put("max_kafka_lag", max(f.services(), "kafka", "kafka_lag"));
            d.put("max_heap_used_mb", maxByService(f.services(), "heap_used_mb"));
            doors.put(door, d);
        }
        summary.put("doors", doors);
        return new Outcome(steps, summary);
    }

    private Outcome soak() {
        List<StepFigures> steps = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        double rate = 0.7 * saturation(steps, summary);
        summary.put("offered_rate", rate);
        StepFigures f = runStep(settings.door(), settings.arrivals().atRate(rate), settings.workload(), settings.soak(),
                "soak " + settings.door());
        steps.add(f);
        Map<String, Object> services = new LinkedHashMap<>();
        for (String service : f.services().stream().map(ServiceSample::service).distinct().toList()) {
            List<ServiceSample> own = f.services().stream().filter(s -> s.service().equals(service)).toList();
            Map<String, Object> s = new LinkedHashMap<>();
            for (String key : own.get(0).values().keySet()) {
                List<Double> v = own.stream().map(x -> x.values().get(key)).filter(x -> x != null).toList();
                if (v.isEmpty()) continue;
                s.put(key, Map.of("first", v.get(0), "last", v.get(v.size() - 1),
                        "max", v.stream().mapToDouble(Double::doubleValue).max().orElse(0)));
            }
            services.put(service, s);
        }
        summary.put("services", services);
        return new Outcome(steps, summary);
    }

    private Outcome skew() {
        List<StepFigures> steps = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        double rate = 0.5 * saturation(steps, summary);
        summary.put("offered_rate", rate);
        ServiceMetrics experts = experts();
        for (Workload w : List.of(settings.workload().withHotTokens(0), settings.workload().withHotTokens(4))) {
            Map<String, Double> before = experts.expertRows();
            StepFigures f = runStep(settings.door(), settings.arrivals().atRate(rate), w, settings.step(),
                    w.hotTokens() == 0 ? "skew: uniform token ids" : "skew: " + w.hotTokens() + " hot token ids");
            Map<String, Double> after = experts.expertRows();
            after.replaceAll((k, v) -> v - before.getOrDefault(k, 0.0));
            steps.add(f);
            summary.put(w.hotTokens() == 0 ? "uniform" : "hot_tokens", ExpertLoad.of(after).asMap());
        }
        experts.close();
        return new Outcome(steps, summary);
    }

    private ServiceMetrics experts() {
        Map<String, String> experts = new LinkedHashMap<>();
        target.services().forEach((name, url) -> {
            if (name.startsWith("expert")) experts.put(name, url);
        });
        return new ServiceMetrics(experts);
    }

    /** Runs one step through a fresh client of the door, watching the services and, for Kafka, the lag. */
    StepFigures runStep(String doorName, Arrivals arrivals, Workload workload, Duration length, String label) {
        boolean kafka = doorName.startsWith("kafka");
        Duration drain = kafka ? settings.drain().plus(length.multipliedBy(3)) : settings.drain();
        Step step = new Step(label, arrivals, workload, length, drain);
        ServiceMetrics services = new ServiceMetrics(target.services());
        Optional<KafkaLag> lag = kafka ? Optional.of(new KafkaLag(target.kafkaBootstrap(),
                Target.ORCHESTRATOR_GROUP, Target.REQUESTS)) : Optional.empty();
        Sampler sampler = new Sampler(services, lag, Duration.ofSeconds(length.toSeconds() >= 300 ? 10 : 1));
        progress.printf(Locale.ROOT, "%-28s %-5s %-14s %5d s ...%n", label, doorName, arrivals, length.toSeconds());
        try (Door door = target.door(doorName, settings.deadline())) {
            sampler.start();
            Thread chaosThread = Thread.ofPlatform().daemon().name("chaos").start(() -> {
                try {
                    chaos.during(step);
                } catch (Exception e) {
                    progress.println("chaos hook failed: " + e);
                }
            });
            StepRun run = new LoadGenerator(door).run(step, "load-" + ProcessHandle.current().pid() + "-"
                    + System.currentTimeMillis() % 100000 + "-" + stepCount++);
            chaosThread.interrupt();
            StepFigures f = StepFigures.of(run, settings.slo(), sampler.stop(), door.repeatedTerminalEvents());
            progress.printf(Locale.ROOT, "  sent %d, answered %d, failed %d%s%s; %.2f req/s, %.1f tok/s, goodput %.2f;"
                            + " TTFT p50 %.1f p99 %.1f ms, TPOT p50 %.1f ms, E2E p50 %.1f p99 %.1f ms; sent late p99 %.1f ms%n",
                    f.sent(), f.answered(), f.failed(), f.errors().isEmpty() ? "" : " " + f.errors(),
                    kafka ? ", repeated terminal events " + f.repeatedTerminalEvents() : "", f.requestThroughput(),
                    f.outputTokensPerS(), f.goodput(), f.ttft().p50(), f.ttft().p99(), f.tpot().p50(), f.e2e().p50(),
                    f.e2e().p99(), f.sendLag().p99());
            return f;
        } finally {
            lag.ifPresent(KafkaLag::close);
            services.close();
        }
    }

    private static double max(List<ServiceSample> samples, String service, String key) {
        return samples.stream().filter(s -> s.service().equals(service) && s.values().containsKey(key))
                .mapToDouble(s -> s.values().get(key)).max().orElse(0);
    }

    private static Map<String, Double> maxByService(List<ServiceSample> samples, String key) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (ServiceSample s : samples) {
            Double v = s.values().get(key);
            if (v != null) out.merge(s.service(), v, Math::max);
        }
        return out;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    static String fmt(double rate) {
        return rate == Math.rint(rate) ? Long.toString((long) rate) : String.format(Locale.ROOT, "%.2f", rate);
    }
}
