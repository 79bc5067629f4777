package dev.moemesh.load.scenario;

import dev.moemesh.load.door.Door;
import dev.moemesh.load.door.RequestTrace;
import dev.moemesh.load.run.Arrivals;
import dev.moemesh.load.run.LoadGenerator;
import dev.moemesh.load.run.Step;
import dev.moemesh.load.run.StepRun;
import dev.moemesh.load.workload.LoadRequest;
import dev.moemesh.load.workload.Workload;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One chaos scenario: steady greedy load through several doors at once, one fault ({@code kill}) part-way, then the
 * count per door of what the clients saw. The workload repeats a few distinct requests, each answered once before
 * the fault (the reference), so every answer after it is checked token for token: sent, answered, answered with
 * other tokens than the reference, failures by kind, requests without any terminal event by the end of the drain
 * ({@code lost}), second terminal events for one id (the Kafka door's {@code repeated terminal events}), and the
 * longest a client waited for its next event (a token or the end) after sending. Given several routers, the REST and
 * gRPC clients take them in turn and send a request another router's way when its connection is refused
 * ({@code sentAgain}); with {@code clientResume} they also go on from the next token when a stream breaks part-way
 * ({@code resumed}), as a client of a mesh whose routers may die would.
 */
public final class ChaosRun {
    /** What one door's clients saw. */
    public record DoorTally(String door, int sent, int answered, int wrong, int unchecked, int lost,
                            Map<String, Integer> failures, long repeatedTerminalEvents, double longestStallMs,
                            int sentAgain, int resumed) {
        /** Nothing lost, failed, wrong or answered twice. */
        public boolean clean() {
            return lost == 0 && failures.isEmpty() && wrong == 0 && repeatedTerminalEvents == 0;
        }
    }

    /** The fault's time (ms after the load started; negative when it was not done) and each door's tally. */
    public record Outcome(String fault, double faultAtMs, List<DoorTally> doors) {}

    /** The fault: returns once it is done. */
    @FunctionalInterface
    public interface Fault {
        void inject() throws Exception;
    }

    private final Target target;
    private final Workload workload;
    private final Arrivals arrivals;
    private final Duration duration;
    private final Duration drain;
    private final Duration deadline;
    private final PrintStream progress;
    private final boolean clientResume;

    /** @param workload must repeat distinct requests ({@link Workload#withDistinct}) */
    public ChaosRun(Target target, Workload workload, Arrivals arrivals, Duration duration, Duration drain,
                    Duration deadline, PrintStream progress) {
        this(target, workload, arrivals, duration, drain, deadline, false, progress);
    }

    /** As above; {@code clientResume}: REST and gRPC streams broken part-way go on at the next router. */
    public ChaosRun(Target target, Workload workload, Arrivals arrivals, Duration duration, Duration drain,
                    Duration deadline, boolean clientResume, PrintStream progress) {
        if (workload.distinct() < 1) {
            throw new IllegalArgumentException("a chaos run checks answers against a reference: give the workload"
                    + " distinct requests to repeat");
        }
        this.target = target;
        this.workload = workload;
        this.arrivals = arrivals;
        this.duration = duration;
        this.drain = drain;
        this.deadline = deadline;
        this.progress = progress;
        this.clientResume = clientResume;
    }

    /**
     * Answers every distinct request once through {@code door} (a healthy mesh's answer), then runs the load through
     * each of {@code doors} at once with {@code fault} injected {@code after} into it.
     */
    public Outcome run(List<String> doors, String referenceDoor, Duration after, String faultName, Fault fault) {
        Map<String, int[]> reference = reference(referenceDoor);
        progress.printf("reference: %d distinct requests answered through %s%n", reference.size(), referenceDoor);
        List<Door> clients = new ArrayList<>();
        Map<String, LoadRequest> sent = new ConcurrentHashMap<>();
        try {
            for (String name : doors) clients.add(recording(target.door(name, deadline, clientResume), sent));
            List<StepRun> runs = new ArrayList<>(doors.size());
            for (int i = 0; i < doors.size(); i++) runs.add(null);
            long started = System.nanoTime();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < clients.size(); i++) {
                int d = i;
                Step step = new Step("chaos " + doors.get(d), arrivals, workload, duration, drain);
                threads.add(Thread.ofPlatform().name("chaos-load-" + doors.get(d)).start(() -> runs.set(d,
                        new LoadGenerator(clients.get(d)).run(step, "chaos-" + ProcessHandle.current().pid() + "-"
                                + started + "-" + doors.get(d)))));
            }
            double faultAt = -1;
            try {
                Thread.sleep(after.toMillis());
                progress.printf("fault: %s%n", faultName);
                fault.inject();
                faultAt = (System.nanoTime() - started) / 1e6;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                progress.println("the fault could not be injected: " + e);
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            List<DoorTally> tallies = new ArrayList<>();
            for (int i = 0; i < doors.size(); i++) {
                tallies.add(tally(doors.get(i), runs.get(i).traces(), sent, reference,
                        clients.get(i).repeatedTerminalEvents()));
            }
            return new Outcome(faultName, faultAt, tallies);
        } finally {
            clients.forEach(Door::close);
        }
    }

    private Map<String, int[]> reference(String door) {
        List<LoadRequest> distinct = workload.source("").distinctRequests();
        CountDownLatch done = new CountDownLatch(distinct.size());
        List<RequestTrace> traces = new ArrayList<>();
        try (Door d = target.door(door, deadline)) {
            String prefix = "chaos-ref-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + "-";
            for (int i = 0; i < distinct.size(); i++) {
                LoadRequest r = distinct.get(i);
                RequestTrace t = new RequestTrace(prefix + i, System.nanoTime(), ended -> done.countDown());
                traces.add(t);
                d.send(new LoadRequest(prefix + i, r.promptIds(), r.maxTokens()), t);
            }
            if (!done.await(deadline.toMillis() + drain.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("the reference answers did not all come back through " + door
                        + " within " + deadline.plus(drain).toSeconds() + " s: is the mesh up and healthy?");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while taking the reference answers");
        }
        Map<String, int[]> answers = new HashMap<>();
        for (int i = 0; i < traces.size(); i++) {
            RequestTrace t = traces.get(i);
            if (t.failure() != null || t.answer() == null) {
                throw new IllegalStateException("reference request " + t.id() + " through " + door + " "
                        + (t.failure() != null ? "failed: " + t.failure() : "was answered without token ids")
                        + "; a chaos run needs a healthy mesh to start from");
            }
            answers.put(key(distinct.get(i)), t.answer());
        }
        return answers;
    }

    static DoorTally tally(String door, List<RequestTrace> traces, Map<String, LoadRequest> sent,
                           Map<String, int[]> reference, long repeatedTerminalEvents) {
        int answered = 0;
        int wrong = 0;
        int unchecked = 0;
        int lost = 0;
        Map<String, Integer> failures = new TreeMap<>();
        long longestStall = 0;
        int sentAgain = 0;
        int resumed = 0;
        for (RequestTrace t : traces) {
            longestStall = Math.max(longestStall, longestGap(t));
            if (t.failovers() > 0) sentAgain++;
            if (t.resumes() > 0) resumed++;
            if (t.failure() == null) {
                answered++;
                LoadRequest r = sent.get(t.id());
                int[] expected = r == null ? null : reference.get(key(r));
                int[] got = t.answer();
                if (expected == null || got == null) unchecked++;
                else if (!Arrays.equals(expected, got)) wrong++;
            } else if (t.failure().equals("no_answer")) {
                lost++;
            } else {
                failures.merge(t.failure(), 1, Integer::sum);
            }
        }
        return new DoorTally(door, traces.size(), answered, wrong, unchecked, lost, failures, repeatedTerminalEvents,
                longestStall / 1e6, sentAgain, resumed);
    }

    /** The longest wait between consecutive events of one request: sending, each token, its end. */
    static long longestGap(RequestTrace t) {
        long previous = t.sentNanos() != 0 ? t.sentNanos() : t.dueNanos();
        long longest = 0;
        for (long at : t.tokenNanos()) {
            longest = Math.max(longest, at - previous);
            previous = at;
        }
        if (t.ended()) longest = Math.max(longest, t.endNanos() - previous);
        return longest;
    }

    private static String key(LoadRequest r) {
        return Arrays.toString(r.promptIds()) + "/" + r.maxTokens();
    }

    /** The door, remembering each request it sends by id (the tally checks each answer against its request's). */
    private static Door recording(Door door, Map<String, LoadRequest> sent) {
        return new Door() {
            @Override
            public String name() {
                return door.name();
            }

            @Override
            public void send(LoadRequest request, RequestTrace trace) {
                sent.put(request.id(), request);
                door.send(request, trace);
            }

            @Override
            public long repeatedTerminalEvents() {
                return door.repeatedTerminalEvents();
            }

            @Override
            public void close() {
                door.close();
            }
        };
    }

    /** The outcome as the report's JSON object. */
    public static Map<String, Object> toJson(Outcome o) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("fault", o.fault());
        out.put("fault_at_ms", o.faultAtMs());
        List<Map<String, Object>> doors = new ArrayList<>();
        for (DoorTally d : o.doors()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("door", d.door());
            m.put("sent", d.sent());
            m.put("answered", d.answered());
            m.put("wrong_tokens", d.wrong());
            m.put("unchecked", d.unchecked());
            m.put("lost", d.lost());
            m.put("failures", d.failures());
            m.put("repeated_terminal_events", d.repeatedTerminalEvents());
            m.put("longest_stall_ms", d.longestStallMs());
            m.put("sent_to_another_router", d.sentAgain());
            m.put("resumed_at_another_router", d.resumed());
            doors.add(m);
        }
        out.put("doors", doors);
        return out;
    }
}
