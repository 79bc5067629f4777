package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class OffsetLedgerTest {
    @Test
    void commitsUpToTheFirstUnfinishedOffsetAndThenPastTheLastTaken() {
        OffsetLedger l = new OffsetLedger();
        assertEquals(-1, l.commitPosition(), "nothing taken, nothing to commit");
        for (long o = 10; o <= 13; o++) l.take(o);
        l.finish(11);
        l.finish(13);
        assertEquals(10, l.commitPosition(), "10 is still running");
        l.committed(10);
        assertEquals(-1, l.commitPosition(), "already committed");
        l.finish(10);
        assertEquals(12, l.commitPosition());
        l.committed(12);
        l.finish(12);
        assertEquals(14, l.commitPosition(), "all finished: past the last taken");
        assertEquals(0, l.unfinished());
    }
}
