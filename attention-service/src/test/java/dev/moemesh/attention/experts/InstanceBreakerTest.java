package dev.moemesh.attention.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.attention.experts.InstanceBreaker.State;
import org.junit.jupiter.api.Test;

class InstanceBreakerTest {
    private static final long OPEN_FOR = 2_000;

    private long now = 1_000_000;
    private final InstanceBreaker breaker = new InstanceBreaker(OPEN_FOR, () -> now);

    @Test
    void aNewBreakerIsClosedAndAnAnswerKeepsItSo() {
        assertTrue(breaker.isClosed());
        assertFalse(breaker.answered(now), "nothing to close");
        assertFalse(breaker.tryProbe(), "a closed breaker needs no probe");
        assertEquals(State.CLOSED, breaker.state());
    }

    @Test
    void aFailureOpensItWithNoProbeUntilTheBackOffHasPassed() {
        assertTrue(breaker.failed(), "it was closed");
        assertFalse(breaker.isClosed());
        assertEquals(State.OPEN, breaker.state());
        now += OPEN_FOR - 1;
        assertFalse(breaker.tryProbe());
        assertEquals(State.OPEN, breaker.state());
        now += 1;
        assertEquals(State.HALF_OPEN, breaker.state());
        assertTrue(breaker.tryProbe());
    }

    @Test
    void onlyOneCallPerBackOffProbes() {
        breaker.failed();
        now += OPEN_FOR;
        assertTrue(breaker.tryProbe());
        assertFalse(breaker.tryProbe(), "the probe is out");
        assertEquals(State.HALF_OPEN, breaker.state());
        now += OPEN_FOR;
        assertTrue(breaker.tryProbe(), "a probe never answered does not keep the instance out for good");
    }

    @Test
    void theProbesAnswerClosesIt() {
        breaker.failed();
        now += OPEN_FOR;
        breaker.tryProbe();
        now += 5;
        assertTrue(breaker.answered(now), "this answer closed it");
        assertTrue(breaker.isClosed());
        assertEquals(State.CLOSED, breaker.state());
    }

    @Test
    void aFailedProbeOpensItForAFreshBackOff() {
        breaker.failed();
        now += OPEN_FOR;
        breaker.tryProbe();
        now += 100;
        assertFalse(breaker.failed(), "it was not closed");
        assertEquals(State.OPEN, breaker.state());
        now += OPEN_FOR - 1;
        assertFalse(breaker.tryProbe());
        now += 1;
        assertTrue(breaker.tryProbe());
    }

    @Test
    void anAnswerThatArrivedBeforeTheFailureDoesNotCloseIt() {
        long arrived = now;
        now += 10;
        breaker.failed();
        assertFalse(breaker.answered(arrived));
        assertFalse(breaker.isClosed());
    }

    @Test
    void anOpenBreakersOnlyHolderAnsweringClosesItWithoutAProbe() {
        breaker.failed();
        now += 10; // its caller tried it anyway: no replica could take its work
        assertTrue(breaker.answered(now));
        assertTrue(breaker.isClosed());
    }

    @Test
    void aZeroBackOffLetsTheNextCallProbeAtOnce() {
        InstanceBreaker eager = new InstanceBreaker(0, () -> now);
        eager.failed();
        assertEquals(State.HALF_OPEN, eager.state());
        assertTrue(eager.tryProbe());
    }
}
