package dev.moemesh.load.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.run.Step;
import dev.moemesh.load.run.StepRun;
import dev.moemesh.load.workload.Lengths;
import dev.moemesh.load.workload.Workload;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

class StepFiguresTest {
    private static final long MS = 1_000_000;

    private static RequestTrace answered(String id, long due, long firstToken, long gap, int tokens) {
        RequestTrace t = new RequestTrace(id, due, x -> { });
        t.sent(due);
        for (int i = 0; i < tokens; i++) t.token(firstToken + i * gap);
        t.answered(firstToken + (tokens - 1) * gap, tokens);
        return t;
    }

    @Test
    void latenciesCountFromTheScheduledTimeAndGoodputKeepsOnlyThoseWithinTheSlo() {
        long t0 = 1_000 * MS;
        // due at 0 ms, first token at 100 ms, 5 tokens 20 ms apart: TTFT 100, E2E 180, TPOT 20, ITL 20
        RequestTrace fast = answered("fast", t0, t0 + 100 * MS, 20 * MS, 5);
        // due at 500 ms, first token 400 ms later, 3 tokens 50 ms apart: TTFT 400, E2E 500, TPOT 50
        RequestTrace slow = answered("slow", t0 + 500 * MS, t0 + 900 * MS, 50 * MS, 3);
        RequestTrace refused = new RequestTrace("refused", t0 + 600 * MS, x -> { });
        refused.failed(t0 + 601 * MS, "http_429");
        Step step = new Step("t", new Arrivals.Poisson(2), Workload.of(new Lengths.Fixed(4), new Lengths.Fixed(5), 512),
                Duration.ofSeconds(1), Duration.ofSeconds(1));
        StepFigures f = StepFigures.of(new StepRun(step, "grpc", t0, t0 + 1000 * MS, t0 + 1000 * MS,
                List.of(fast, slow, refused)), new Slo(200, 30), List.of());

        assertEquals(3, f.sent());
        assertEquals(2, f.answered());
        assertEquals(1, f.failed());
        assertEquals(Map.of("http_429", 1L), f.errors());
        assertEquals(1, f.refused());
        assertEquals(100.0, f.ttft().p50(), 0.2);
        assertEquals(400.0, f.ttft().max(), 0.5);
        assertEquals(180.0, f.e2e().p50(), 0.2);
        assertEquals(500.0, f.e2e().max(), 0.5);
        assertEquals(20.0, f.tpot().p50(), 0.05);
        assertEquals(6, f.itl().count(), "4 gaps + 2 gaps");
        assertEquals(8, f.outputTokens());
        assertEquals(1.0, f.durationS(), 1e-9, "from the first due time to the last answer");
        assertEquals(2.0, f.requestThroughput(), 1e-9);
        assertEquals(8.0, f.outputTokensPerS(), 1e-9);
        assertEquals(1.0, f.goodput(), 1e-9, "only 'fast' meets TTFT <= 200 ms and TPOT <= 30 ms");
        assertEquals(1, f.timeline().size());
        assertEquals(3, f.timeline().get(0).due());
    }

    @Test
    void aDoorThatStreamsNoTokenHasOnlyEndToEndLatencyAndItsAnswerIsItsFirstToken() {
        long t0 = 1_000 * MS;
        RequestTrace whole = new RequestTrace("whole", t0, x -> { });
        whole.sent(t0);
        whole.answered(t0 + 300 * MS, 16);
        Step step = new Step("t", new Arrivals.Poisson(2), Workload.of(new Lengths.Fixed(4), new Lengths.Fixed(16), 512),
                Duration.ofSeconds(1), Duration.ofSeconds(1));
        StepFigures f = StepFigures.of(new StepRun(step, "kafka-unstreamed", t0, t0, t0 + 300 * MS, List.of(whole)),
                new Slo(200, 30), List.of());
        assertEquals(300.0, f.e2e().p50(), 0.5);
        assertEquals(0, f.ttft().count(), "no token was seen before the answer");
        assertEquals(0, f.tpot().count());
        assertEquals(0, f.itl().count());
        assertEquals(0.0, f.goodput(), 1e-9, "300 ms to the first token the client saw: over the 200 ms SLO");
    }
}
