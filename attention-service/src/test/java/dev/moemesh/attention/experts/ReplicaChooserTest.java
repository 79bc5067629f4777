package dev.moemesh.attention.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/** Replica choice, case by case: each service by its breaker, load, stream and channel; the choice, what it opened. */
class ReplicaChooserTest {

    /** One service as the choice sees it. */
    record Svc(boolean closed, long outstanding, boolean streamBroken, boolean probeDue, boolean connected) {
        static Svc closed(long outstanding) {
            return new Svc(true, outstanding, false, false, true);
        }

        static Svc open(long outstanding) {
            return new Svc(false, outstanding, false, false, true);
        }

        Svc withBrokenStream() {
            return new Svc(closed, outstanding, true, probeDue, connected);
        }

        Svc withProbeDue() {
            return new Svc(closed, outstanding, streamBroken, true, connected);
        }

        Svc withoutConnection() {
            return new Svc(closed, outstanding, streamBroken, probeDue, false);
        }
    }

    /**
     * @param holders      the replicas of the expert (indexes into services)
     * @param failedInCall services that already failed in this call
     * @param rowsThisCall rows already given to each service in this round
     * @param chosen       the service chosen, -1 for none
     * @param opened       services whose breaker the choice opened
     * @param probed       whether the choice is a probe
     */
    record Case(String name, List<Svc> services, int[] holders, int[] failedInCall, int[] rowsThisCall, int chosen,
                List<Integer> opened, boolean probed) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("the least busy closed replica", List.of(Svc.closed(5), Svc.closed(3)), new int[] {0, 1},
                        new int[0], new int[] {0, 0}, 1, List.of(), false),
                new Case("rows of this round count as load", List.of(Svc.closed(0), Svc.closed(3)), new int[] {0, 1},
                        new int[0], new int[] {4, 0}, 1, List.of(), false),
                new Case("ties go to the first listed", List.of(Svc.closed(2), Svc.closed(2)), new int[] {1, 0},
                        new int[0], new int[] {0, 0}, 1, List.of(), false),
                new Case("a closed replica over a less busy open one", List.of(Svc.open(0), Svc.closed(9)),
                        new int[] {0, 1}, new int[0], new int[] {0, 0}, 1, List.of(), false),
                new Case("the sole holder whatever its breaker", List.of(Svc.open(9)), new int[] {0}, new int[0],
                        new int[] {0}, 0, List.of(), false),
                new Case("the sole holder that failed in this call: none", List.of(Svc.closed(0)), new int[] {0},
                        new int[] {0}, new int[] {0}, -1, List.of(), false),
                new Case("never one that failed in this call", List.of(Svc.closed(0), Svc.closed(7)), new int[] {0, 1},
                        new int[] {0}, new int[] {0, 0}, 1, List.of(), false),
                new Case("every replica failed in this call: none", List.of(Svc.closed(0), Svc.closed(0)),
                        new int[] {0, 1}, new int[] {0, 1}, new int[] {0, 0}, -1, List.of(), false),
                new Case("an open replica whose probe is due, before a closed one",
                        List.of(Svc.closed(0), Svc.open(5).withProbeDue()), new int[] {0, 1}, new int[0], new int[] {0, 0},
                        1, List.of(), true),
                new Case("no probe once a service failed in this call",
                        List.of(Svc.closed(0), Svc.open(5).withProbeDue(), Svc.closed(9)), new int[] {1, 2},
                        new int[] {0}, new int[] {0, 0, 0}, 2, List.of(), false),
                new Case("a probe due over a channel not connected opens again, a closed one is chosen",
                        List.of(Svc.closed(4), Svc.open(0).withProbeDue().withoutConnection()), new int[] {0, 1}, new int[0],
                        new int[] {0, 0}, 0, List.of(1), false),
                new Case("a closed replica whose stream broke opens and is passed over",
                        List.of(Svc.closed(0).withBrokenStream(), Svc.closed(6)), new int[] {0, 1}, new int[0], new int[] {0, 0},
                        1, List.of(0), false),
                new Case("no closed replica: the least busy open one", List.of(Svc.open(8), Svc.open(2)),
                        new int[] {0, 1}, new int[0], new int[] {0, 0}, 1, List.of(), false),
                new Case("a broken stream is tried when nothing else is up", List.of(Svc.closed(0).withBrokenStream()),
                        new int[] {0}, new int[0], new int[] {0}, 0, List.of(), false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void choosesAsTheRulesSay(Case c) {
        Services services = new Services(c.services());
        ReplicaChooser chooser = new ReplicaChooser(services, c.services().size());
        for (int f : c.failedInCall()) chooser.failedInCall(f);
        int chosen = chooser.choose(c.holders(), c.rowsThisCall());
        assertEquals(c.chosen(), chosen, "chosen");
        assertEquals(c.opened(), services.opened, "breakers opened");
        assertEquals(c.probed(), chosen >= 0 && chooser.probed(chosen), "a probe");
    }

    /** The services of a case; a failure opens the breaker, as InstanceBreaker does. */
    private static final class Services implements ReplicaChooser.Services {
        private final boolean[] closed;
        private final List<Svc> services;
        final List<Integer> opened = new ArrayList<>();

        Services(List<Svc> services) {
            this.services = services;
            this.closed = new boolean[services.size()];
            for (int i = 0; i < closed.length; i++) closed[i] = services.get(i).closed();
        }

        @Override
        public boolean closed(int s) {
            return closed[s];
        }

        @Override
        public long outstandingRows(int s) {
            return services.get(s).outstanding();
        }

        @Override
        public boolean streamBroken(int s) {
            return services.get(s).streamBroken();
        }

        @Override
        public boolean connectedNow(int s) {
            return services.get(s).connected();
        }

        @Override
        public boolean tryProbe(int s) {
            return !closed[s] && services.get(s).probeDue();
        }

        @Override
        public void failed(int s) {
            closed[s] = false;
            opened.add(s);
        }

        @Override
        public String toString() {
            return Arrays.toString(closed);
        }
    }
}
