package dev.moemesh.attention.experts;

import com.google.protobuf.UnsafeByteOperations;
import dev.moemesh.core.moe.Bf16Rows;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.RequestError;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.tls.MeshTraceContext;
import io.grpc.Status;
import io.quarkus.logging.Log;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One MoE layer's routed groups out at the expert services: each group goes to a replica of its expert, the answers
 * are written into the batch's output rows, and the share of a service that fails is re-sent to other replicas
 * within the call's one deadline ({@code attention.expert-timeout}). The call uses the placement (and the services'
 * clients) in use when it was sent, re-sends included, whatever placement comes meanwhile.
 *
 * <p>Re-sent: a broken stream (the service died, the connection dropped, a reset after another call's timeout:
 * the service never judged the request), and refusals that say nothing against the request: {@code NOT_FOUND}
 * (this instance does not hold the expert; the placement is stale for it) and the codes of an unwell instance
 * ({@code UNAVAILABLE}, {@code INTERNAL}, {@code RESOURCE_EXHAUSTED}, ... every code not listed next). Not re-sent,
 * failing the step: refusals of the request itself, which every replica would refuse too ({@code INVALID_ARGUMENT},
 * {@code FAILED_PRECONDITION}: another model, a placement older than the service accepts; {@code OUT_OF_RANGE},
 * {@code PERMISSION_DENIED}, {@code UNAUTHENTICATED}). An answer still missing at the deadline fails the step, as
 * no time is left to re-send it; only a probe (the one call an open breaker lets through) waits half the time, so
 * a service that still hangs costs a re-send, not the step. An expert of a failed share with no replica left that has
 * not failed in this call, or one the placement gives to no service, is left out: the call computes every other
 * expert and then throws {@link NoLiveReplicaException} naming those left out (the first one's message names layer,
 * expert and every service tried), which {@link HealingCall} turns into rows the step sets aside.
 */
final class ExpertCall implements ExpertBackend.Pending, ReplicaChooser.Services {
    private final RemoteExperts experts;
    private final RoutedBatch batch;
    private final PlacementView view;
    private final PlacementTable placement;
    private final ReplicaChooser chooser;
    private final long started;
    /** The step's trace context, on each request: a stream's headers carry only its first step's. */
    private final String traceparent = MeshTraceContext.traceparent();
    private Sent[] sent;            // the first round, by client
    private Retries retries;        // null until a share fails
    private RuntimeException failure;
    private boolean[] unserved;       // by group: left out, no replica could compute it; null while none is
    private String firstUnserved;     // why the first group left out was
    private boolean unservedHeldByNone;
    private long deadline;
    private long probeDeadline;
    private long sentFirstRound;
    private long lastArrival;
    private long lastCompute;   // compute_nanos and queue_nanos of the answer that arrived last
    private long lastQueue;

    private ExpertCall(RemoteExperts experts, RoutedBatch batch, PlacementView view) {
        this.experts = experts;
        this.batch = batch;
        this.view = view;
        this.placement = view.placement;
        this.chooser = new ReplicaChooser(this, view.size());
        this.started = System.nanoTime();
        this.lastArrival = started;
    }

    /**
     * Chooses a replica for every group and sends each chosen service its share, under the placement in use now;
     * the call keeps it until {@link #await} returns.
     */
    static ExpertCall send(RemoteExperts experts, RoutedBatch batch) {
        PlacementView view = experts.hold();
        try {
            ExpertCall call = new ExpertCall(experts, batch, view);
            call.sendFirstRound();
            return call;
        } catch (RuntimeException e) {
            experts.release(view);
            throw e;
        }
    }

    private void sendFirstRound() {
        int groups = batch.groups();
        int[] target = new int[groups];
        int[] rowsPerClient = new int[view.size()];
        for (int g = 0; g < groups; g++) {
            int[] replicas = placement.replicas(batch.layer(), batch.expertIds()[g]);
            if (replicas.length == 0) {
                leaveOut(g, "layer " + batch.layer() + " expert " + batch.expertIds()[g] + " is held by no expert"
                        + " service (" + (placement.version() == 0 ? "nothing is placed yet"
                        : "placement version " + placement.version()) + ")", true);
                target[g] = -1;
                continue;
            }
            target[g] = chooser.choose(replicas, rowsPerClient);
            rowsPerClient[target[g]] += batch.groupSize(g);
        }
        sent = sendShares(target, rowsPerClient, true);
        sentFirstRound = System.nanoTime();
    }

    @Override
    public void await() {
        try {
            long now = System.nanoTime();
            long timeout = experts.timeout().toNanos();
            deadline = now + timeout;
            probeDeadline = now + timeout / 2;
            for (Sent s : sent) {
                if (s != null) collect(s);
            }
            for (int i = 0; retries != null && i < retries.resent.size(); i++) collect(retries.resent.get(i));
        } finally {
            experts.release(view);
        }
        if (failure != null) throw failure;
        if (unserved != null) throw unservedExperts();
        experts.latency().record(lastArrival - started, sentFirstRound - started, lastCompute, lastQueue);
    }

    @Override
    public boolean closed(int c) {
        return view.breaker(c).isClosed();
    }

    @Override
    public long outstandingRows(int c) {
        return view.client(c).outstandingRows();
    }

    @Override
    public boolean streamBroken(int c) {
        return view.client(c).streamBroken();
    }

    @Override
    public boolean connectedNow(int c) {
        return view.client(c).connectedNow();
    }

    @Override
    public boolean tryProbe(int c) {
        return view.breaker(c).tryProbe();
    }

    @Override
    public void failed(int c) {
        experts.failed(view.instance(c));
    }

    /** Packs and sends the groups with {@code target[g] >= 0}, one request per client; the requests sent, by client. */
    private Sent[] sendShares(int[] target, int[] rowsPerClient, boolean firstRound) {
        int groups = batch.groups();
        int hidden = batch.hidden();
        Sent[] out = new Sent[rowsPerClient.length];
        for (int c = 0; c < out.length; c++) {
            if (rowsPerClient[c] == 0) continue;
            RunExpertsRequest.Builder request = RunExpertsRequest.newBuilder().setModelFingerprint(experts.fingerprint())
                    .setPlacementVersion(placement.version()).setLayer(batch.layer()).setHidden(hidden)
                    .setTraceparent(traceparent);
            byte[] rows = new byte[rowsPerClient[c] * hidden * 2];
            int at = 0;
            int[] mine = new int[groups];
            int count = 0;
            for (int g = 0; g < groups; g++) {
                if (target[g] != c) continue;
                int size = batch.groupSize(g);
                request.addExpertIds(batch.expertIds()[g]).addGroupSizes(size);
                Bf16Rows.pack(batch.input(), batch.groupStart()[g] * hidden, size * hidden, rows, at);
                at += size * hidden * 2;
                mine[count++] = g;
            }
            request.setHiddenStates(UnsafeByteOperations.unsafeWrap(rows));
            boolean probe = firstRound && chooser.probed(c);
            out[c] = new Sent(c, mine, count, rowsPerClient[c], probe, view.client(c).send(request, rowsPerClient[c]));
        }
        return out;
    }

    /** Waits for one share's answer and writes its rows, or re-sends the share, or records why the step fails. */
    private void collect(Sent s) {
        ExpertClient client = view.client(s.client);
        try {
            long until = s.probe ? probeDeadline : deadline;
            ExpertClient.Answer answer = s.answer.get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            RunExpertsResponse response = answer.response();
            if (answer.arrivedNanos() - lastArrival >= 0) {
                lastArrival = answer.arrivedNanos();
                lastCompute = response.getComputeNanos();
                lastQueue = response.getQueueNanos();
            }
            if (response.hasError()) {
                refused(s, response.getError(), answer.arrivedNanos());
                return;
            }
            int hidden = batch.hidden();
            if (response.getOutputs().size() != s.rows * hidden * 2) {
                String why = "expert service " + client.address() + " answered layer " + batch.layer() + " with "
                        + response.getOutputs().size() + " bytes for " + s.rows + " rows of " + hidden + " bf16 values";
                experts.failed(view.instance(s.client));
                resend(s, why);
                return;
            }
            var bytes = response.getOutputs().asReadOnlyByteBuffer();
            for (int i = 0; i < s.count; i++) {
                int g = s.groups[i];
                int values = batch.groupSize(g) * hidden;
                Bf16Rows.unpack(bytes, batch.output(), batch.groupStart()[g] * hidden, values);
                bytes.position(bytes.position() + values * 2);
            }
            experts.answered(view.instance(s.client), answer.arrivedNanos());
        } catch (TimeoutException e) {
            long ms = experts.timeout().toMillis();
            String why = "expert service " + client.address() + " did not answer " + (s.probe ? "a probe on " : "")
                    + "layer " + batch.layer() + " within " + (s.probe ? ms / 2 : ms) + " ms";
            client.reset(why);
            experts.failed(view.instance(s.client));
            if (s.probe) {
                resend(s, why);
            } else {
                fail(new IllegalStateException(why));
            }
        } catch (ExecutionException e) {
            Status status = Status.fromThrowable(e.getCause());
            String why = "expert service " + client.address() + " failed on layer " + batch.layer() + ": "
                    + status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
            experts.failed(view.instance(s.client));
            resend(s, why);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(new IllegalStateException("interrupted waiting for expert services"));
        }
    }

    private void refused(Sent s, RequestError error, long arrivedNanos) {
        Status.Code code = Status.fromCodeValue(error.getCode()).getCode();
        String why = "expert service " + view.client(s.client).address() + " refused layer " + batch.layer() + ": "
                + code + ": " + error.getMessage();
        if (refusesTheRequest(code)) {
            experts.answered(view.instance(s.client), arrivedNanos);
            fail(new IllegalStateException(why));
            return;
        }
        if (code == Status.Code.NOT_FOUND) {
            experts.answered(view.instance(s.client), arrivedNanos);
        } else {
            experts.failed(view.instance(s.client));
        }
        resend(s, why);
    }

    /** Whether a refusal with this code is about the request itself, so that every replica would refuse it too. */
    static boolean refusesTheRequest(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED -> true;
            default -> false;
        };
    }

    /** Sends the groups of a failed share to other replicas, or records why the step fails when it cannot. */
    private void resend(Sent s, String why) {
        if (retries == null) retries = new Retries(view.size());
        chooser.failedInCall(s.client);
        retries.why[s.client] = why;
        if (failure != null) return; // the step fails anyway
        if (System.nanoTime() - deadline >= 0) {
            fail(new IllegalStateException(why + "; no time was left within " + experts.timeout().toMillis()
                    + " ms to try another replica"));
            return;
        }
        int[] target = new int[batch.groups()];
        Arrays.fill(target, -1);
        int[] rowsPerClient = new int[view.size()];
        int groups = 0;
        for (int i = 0; i < s.count; i++) {
            int g = s.groups[i];
            int expert = batch.expertIds()[g];
            int[] replicas = placement.replicas(batch.layer(), expert);
            int c = chooser.choose(replicas, rowsPerClient);
            if (c < 0) {
                leaveOut(g, noReplicaLeft(expert, replicas), false);
                continue;
            }
            target[g] = c;
            rowsPerClient[c] += batch.groupSize(g);
            groups++;
        }
        if (groups == 0) return;
        if (retries.resent.isEmpty()) experts.callRetried();
        StringJoiner to = new StringJoiner(", ");
        for (Sent again : sendShares(target, rowsPerClient, false)) {
            if (again == null) continue;
            retries.resent.add(again);
            to.add(view.client(again.client).address());
        }
        Log.warnf("%s; re-sent %d of its %d expert groups to %s", why, groups, s.count, to);
    }

    private String noReplicaLeft(int expert, int[] replicas) {
        StringJoiner tried = new StringJoiner("; ", "layer " + batch.layer() + " expert " + expert
                + " has no replica left to try: ", "");
        for (int c : replicas) tried.add(retries.why[c]);
        return tried.toString();
    }

    private void fail(RuntimeException why) {
        if (failure == null) failure = why;
    }

    /** Group g has no replica that can compute it in this call: the others go on without it. */
    private void leaveOut(int g, String why, boolean heldByNone) {
        if (unserved == null) {
            unserved = new boolean[batch.groups()];
            firstUnserved = why;
        }
        unserved[g] = true;
        unservedHeldByNone |= heldByNone;
    }

    private NoLiveReplicaException unservedExperts() {
        int count = 0;
        for (boolean u : unserved) if (u) count++;
        int[] left = new int[count];
        for (int g = 0, i = 0; g < unserved.length; g++) if (unserved[g]) left[i++] = batch.expertIds()[g];
        return new NoLiveReplicaException(firstUnserved, batch.layer(), left, placement.version(), unservedHeldByNone);
    }

    /** One service's share of the call: the groups it was sent, by index into the batch, and its answer. */
    private record Sent(int client, int[] groups, int count, int rows, boolean probe,
                        CompletableFuture<ExpertClient.Answer> answer) {}

    /** Why services failed in this call, and the shares re-sent to others. */
    private static final class Retries {
        final String[] why;
        final List<Sent> resent = new ArrayList<>();

        Retries(int clients) {
            why = new String[clients];
        }
    }
}
