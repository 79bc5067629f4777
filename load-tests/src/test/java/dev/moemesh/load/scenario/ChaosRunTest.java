package dev.moemesh.load.scenario;

import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.workload.LoadRequest;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChaosRunTest {
    private static final long MS = 1_000_000;

    @Test
    void eachAnswerIsCheckedAgainstItsRequestsReferenceAndEveryOtherEndIsCountedByKind() {
        LoadRequest a = new LoadRequest("", new int[] {5, 6, 7}, 3);
        LoadRequest b = new LoadRequest("", new int[] {9}, 2);
        Map<String, int[]> reference = Map.of("[5, 6, 7]/3", new int[] {1, 2, 3}, "[9]/2", new int[] {4, 4});
        long t0 = 1_000 * MS;
        RequestTrace right = trace("right", t0);
        right.token(t0 + 10 * MS);
        right.token(t0 + 2_010 * MS); // the longest wait anyone had: 2 s between two tokens
        right.answered(t0 + 2_020 * MS, new int[] {1, 2, 3});
        RequestTrace wrong = trace("wrong", t0);
        wrong.answered(t0 + 5 * MS, new int[] {4, 5});
        RequestTrace noIds = trace("no-ids", t0);
        noIds.answered(t0 + 5 * MS, 2);
        RequestTrace lost = trace("lost", t0);
        lost.failed(t0 + 900 * MS, "no_answer");
        RequestTrace refused = trace("refused", t0);
        refused.sentAgain(false);
        refused.failed(t0 + MS, "UNAVAILABLE");
        right.sentAgain(true);
        right.sentAgain(false);
        Map<String, LoadRequest> sent = Map.of("right", a, "wrong", b, "no-ids", b, "lost", a, "refused", b);

        ChaosRun.DoorTally t = ChaosRun.tally("grpc", List.of(right, wrong, noIds, lost, refused), sent, reference, 2);

        assertEquals(5, t.sent());
        assertEquals(3, t.answered());
        assertEquals(1, t.wrong(), "[4, 5] is not the reference [4, 4]");
        assertEquals(1, t.unchecked());
        assertEquals(1, t.lost());
        assertEquals(Map.of("UNAVAILABLE", 1), t.failures());
        assertEquals(2, t.repeatedTerminalEvents());
        assertEquals(2_000.0, t.longestStallMs(), 1e-9);
        assertEquals(2, t.sentAgain(), "requests sent to another router after a refused connection");
        assertEquals(1, t.resumed(), "requests whose stream went on at another router");
        assertFalse(t.clean());
        assertTrue(new ChaosRun.DoorTally("rest", 1, 1, 0, 1, 0, Map.of(), 0, 1, 1, 1).clean(),
                "unchecked, sent again or resumed is not unclean");
    }

    private static RequestTrace trace(String id, long t0) {
        RequestTrace t = new RequestTrace(id, t0, x -> { });
        t.sent(t0);
        return t;
    }
}
