package dev.moemesh.load.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

class ArrivalsTest {
    @Test
    void poissonGapsAverageOneOverTheRateAndVaryLikeAnExponential() {
        Arrivals.Poisson p = new Arrivals.Poisson(20);
        SplittableRandom rng = new SplittableRandom(3);
        int n = 50_000;
        double sum = 0;
        double sumSq = 0;
        for (int i = 0; i < n; i++) {
            double gap = p.nextGapNanos(rng) / 1e9;
            sum += gap;
            sumSq += gap * gap;
        }
        double mean = sum / n;
        double sd = Math.sqrt(sumSq / n - mean * mean);
        assertEquals(0.05, mean, 0.05 * 0.03, "mean gap 1/20 s");
        assertEquals(mean, sd, mean * 0.05, "an exponential's deviation equals its mean");
    }

    @Test
    void fixedRateGapsAreEqual() {
        assertEquals(250_000_000L, new Arrivals.FixedRate(4).nextGapNanos(new SplittableRandom(1)));
    }

    @Test
    void specsParseAndBadOnesSayTheForm() {
        assertEquals(new Arrivals.Poisson(2.5), Arrivals.parse("poisson:2.5"));
        assertEquals(new Arrivals.FixedRate(10), Arrivals.parse("fixed:10"));
        assertEquals(new Arrivals.Closed(8), Arrivals.parse("closed:8"));
        assertEquals(new Arrivals.Poisson(7), Arrivals.parse("poisson:1").atRate(7));
        assertEquals(new Arrivals.Closed(8), Arrivals.parse("closed:8").atRate(7), "a closed loop has no rate to set");
        var e = assertThrows(IllegalArgumentException.class, () -> Arrivals.parse("burst:3"));
        assertTrue(e.getMessage().contains("poisson:RATE"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Arrivals.parse("poisson:0"));
    }
}
