package dev.moemesh.load.report;

import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.run.StepRun;
import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The serving figures of one step, named as in vLLM's and SGLang's serving benchmarks. Every latency counts from the
 * request's scheduled time. TTFT: to the first token; E2E: to the answer; TPOT: (E2E - TTFT) / (output tokens - 1)
 * per request; ITL: each gap between two tokens of a request. Throughputs divide by the step's duration: from its
 * first scheduled request to the last answer. Goodput: answered requests per second that met the SLO.
 *
 * @param sent      requests sent; always {@code answered + failed}
 * @param errors    failed requests by kind
 * @param repeatedTerminalEvents terminal events heard for a request that had already ended (Kafka's door; should be 0)
 * @param timeline  one entry per second of the step
 * @param sendLag   how late each request left the generator after its scheduled time: the generator's own health
 *                  (its lateness is inside every latency above, as it would be for a user)
 */
public record StepFigures(String label, String door, String arrivals, double offeredRate, String workload,
                          double durationS, long sent, long answered, long failed, Map<String, Long> errors,
                          long repeatedTerminalEvents, double requestThroughput, double outputTokensPerS,
                          long outputTokens, double goodput, Slo slo, Percentiles ttft, Percentiles tpot,
                          Percentiles itl, Percentiles e2e, Percentiles sendLag, List<Second> timeline,
                          List<ServiceSample> services) {

    /** One second of a step: requests due, answered and failed in it, and the latency of those answered in it. */
    public record Second(int second, long due, long answered, long failed, long outputTokens, double e2eP50,
                         double e2eP99, double ttftP50, double ttftP99) {}

    public static StepFigures of(StepRun run, Slo slo, List<ServiceSample> services) {
        return of(run, slo, services, 0);
    }

    /** As above, with the terminal events the door heard again for requests already ended. */
    public static StepFigures of(StepRun run, Slo slo, List<ServiceSample> services, long repeatedTerminalEvents) {
        Histogram ttft = Percentiles.histogram();
        Histogram tpot = Percentiles.histogram();
        Histogram itl = Percentiles.histogram();
        Histogram e2e = Percentiles.histogram();
        Histogram sendLag = Percentiles.histogram();
        Map<String, Long> errors = new TreeMap<>();
        long answered = 0;
        long good = 0;
        long tokens = 0;
        long lastEnd = run.startNanos();
        int seconds = (int) Math.max(1, Math.ceil((run.endedNanos() - run.startNanos()) / 1e9));
        Histogram[] secondE2e = new Histogram[seconds];
        Histogram[] secondTtft = new Histogram[seconds];
        long[] due = new long[seconds];
        long[] ok = new long[seconds];
        long[] bad = new long[seconds];
        long[] secondTokens = new long[seconds];
        for (RequestTrace t : run.traces()) {
            due[bucket(t.dueNanos(), run, seconds)]++;
            if (t.sentNanos() != 0) Percentiles.recordNanos(sendLag, t.sentNanos() - t.dueNanos());
            int endBucket = bucket(t.endNanos(), run, seconds);
            lastEnd = Math.max(lastEnd, t.endNanos());
            if (t.failure() != null) {
                errors.merge(t.failure(), 1L, Long::sum);
                bad[endBucket]++;
                continue;
            }
            answered++;
            ok[endBucket]++;
            tokens += t.outputTokens();
            secondTokens[endBucket] += t.outputTokens();
            long[] at = t.tokenNanos();
            long latency = t.endNanos() - t.dueNanos();
            Percentiles.recordNanos(e2e, latency);
            if (secondE2e[endBucket] == null) {
                secondE2e[endBucket] = Percentiles.histogram();
                secondTtft[endBucket] = Percentiles.histogram();
            }
            Percentiles.recordNanos(secondE2e[endBucket], latency);
            // a door that streamed no token (Kafka with stream: false) shows its client the first token with the
            // answer: for goodput its TTFT is the E2E; TTFT, TPOT and ITL are left to the doors that stream
            long first = at.length > 0 ? at[0] - t.dueNanos() : latency;
            double perToken = at.length > 0 && t.outputTokens() > 1 ? (double) (latency - first) / (t.outputTokens() - 1) : 0;
            if (at.length > 0) {
                Percentiles.recordNanos(ttft, first);
                Percentiles.recordNanos(secondTtft[endBucket], first);
                if (t.outputTokens() > 1) Percentiles.recordNanos(tpot, (long) perToken);
            }
            for (int i = 1; i < at.length; i++) Percentiles.recordNanos(itl, at[i] - at[i - 1]);
            if (first / 1e6 <= slo.ttftMs() && perToken / 1e6 <= slo.tpotMs()) good++;
        }
        double duration = Math.max(1e-9, (lastEnd - run.startNanos()) / 1e9);
        List<Second> timeline = new ArrayList<>();
        for (int s = 0; s < seconds; s++) {
            Percentiles e = secondE2e[s] == null ? Percentiles.of(Percentiles.histogram()) : Percentiles.of(secondE2e[s]);
            Percentiles f = secondTtft[s] == null ? Percentiles.of(Percentiles.histogram()) : Percentiles.of(secondTtft[s]);
            timeline.add(new Second(s, due[s], ok[s], bad[s], secondTokens[s], e.p50(), e.p99(), f.p50(), f.p99()));
        }
        Arrivals a = run.step().arrivals();
        long sent = run.traces().size();
        return new StepFigures(run.step().label(), run.door(), a.toString(), a.offeredRate(),
                run.step().workload().describe(), round(duration), sent, answered, sent - answered, errors,
                repeatedTerminalEvents, round(answered / duration), round(tokens / duration), tokens,
                round(good / duration), slo, Percentiles.of(ttft), Percentiles.of(tpot), Percentiles.of(itl), Percentiles.of(e2e),
                Percentiles.of(sendLag), timeline,
                List.copyOf(services));
    }

    private static int bucket(long nanos, StepRun run, int seconds) {
        return (int) Math.min(seconds - 1, Math.max(0, (nanos - run.startNanos()) / 1_000_000_000L));
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** Failed requests whose kind says the mesh refused them for load (429, RESOURCE_EXHAUSTED). */
    public long refused() {
        return errors.entrySet().stream().filter(e -> e.getKey().equals("http_429")
                || e.getKey().equals("RESOURCE_EXHAUSTED")).mapToLong(Map.Entry::getValue).sum();
    }
}
