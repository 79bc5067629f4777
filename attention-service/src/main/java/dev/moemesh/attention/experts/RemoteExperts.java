package dev.moemesh.attention.experts;

import com.google.protobuf.UnsafeByteOperations;
import dev.moemesh.core.moe.Bf16Rows;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import io.grpc.Status;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Routed experts computed by expert services: a layer's groups are split by the service that holds each expert
 * (the least busy replica when there are several), sent to all of those services at once, and their answers
 * written back into the batch's output rows. The outputs are the services' bf16 rows, exactly.
 */
public final class RemoteExperts implements ExpertBackend {
    private final List<ExpertClient> clients;
    private final String fingerprint;
    private final Duration timeout;
    private final ExpertLatency latency = new ExpertLatency();
    private volatile Placement placement;

    public RemoteExperts(List<ExpertClient> clients, Placement placement, String fingerprint, Duration timeout) {
        this.clients = List.copyOf(clients);
        this.placement = placement;
        this.fingerprint = fingerprint;
        this.timeout = timeout;
    }

    public Placement placement() {
        return placement;
    }

    /** Takes effect for the next batch; batches already sent finish with the placement they were sent with. */
    public void usePlacement(Placement next) {
        this.placement = next;
    }

    public List<ExpertClient> clients() {
        return clients;
    }

    public ExpertLatency latency() {
        return latency;
    }

    @Override
    public void run(RoutedBatch batch) {
        submit(batch).await();
    }

    @Override
    public Pending submit(RoutedBatch batch) {
        long started = System.nanoTime();
        Placement p = placement;
        int groups = batch.groups();
        int hidden = batch.hidden();
        int[] target = new int[groups];
        int[] rowsPerClient = new int[clients.size()];
        for (int g = 0; g < groups; g++) {
            int[] replicas = p.replicas(batch.layer(), batch.expertIds()[g]);
            if (replicas.length == 0) {
                throw new IllegalStateException("layer " + batch.layer() + " expert " + batch.expertIds()[g]
                        + " is held by no expert service (placement version " + p.version() + ")");
            }
            target[g] = leastBusy(replicas, rowsPerClient);
            rowsPerClient[target[g]] += batch.groupSize(g);
        }

        Sent[] sent = new Sent[clients.size()];
        for (int c = 0; c < sent.length; c++) {
            if (rowsPerClient[c] == 0) continue;
            RunExpertsRequest.Builder request = RunExpertsRequest.newBuilder().setModelFingerprint(fingerprint)
                    .setPlacementVersion(p.version()).setLayer(batch.layer()).setHidden(hidden);
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
            sent[c] = new Sent(clients.get(c), mine, count, rowsPerClient[c],
                    clients.get(c).send(request, rowsPerClient[c]));
        }
        return () -> receive(batch, sent, started);
    }

    /** The replica with the fewest rows outstanding, counting this batch's rows already given to each. */
    private int leastBusy(int[] replicas, int[] rowsThisBatch) {
        int best = replicas[0];
        if (replicas.length == 1) return best;
        long bestLoad = Long.MAX_VALUE;
        for (int c : replicas) {
            long load = clients.get(c).outstandingRows() + rowsThisBatch[c];
            if (load < bestLoad) {
                best = c;
                bestLoad = load;
            }
        }
        return best;
    }

    private void receive(RoutedBatch batch, Sent[] sent, long started) {
        int hidden = batch.hidden();
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException failure = null;
        long lastArrival = started;
        long slowestCompute = 0;
        for (Sent s : sent) {
            if (s == null) continue;
            try {
                long left = Math.max(0, deadline - System.nanoTime());
                ExpertClient.Answer answer = s.answer.get(left, TimeUnit.NANOSECONDS);
                RunExpertsResponse response = answer.response();
                lastArrival = Math.max(lastArrival, answer.arrivedNanos());
                slowestCompute = Math.max(slowestCompute, response.getComputeNanos());
                if (response.hasError()) {
                    throw new IllegalStateException("expert service " + s.client.address() + " refused layer "
                            + batch.layer() + ": " + Status.fromCodeValue(response.getError().getCode()).getCode()
                            + ": " + response.getError().getMessage());
                }
                if (response.getOutputs().size() != s.rows * hidden * 2) {
                    throw new IllegalStateException("expert service " + s.client.address() + " answered layer "
                            + batch.layer() + " with " + response.getOutputs().size() + " bytes for " + s.rows
                            + " rows of " + hidden + " bf16 values");
                }
                var bytes = response.getOutputs().asReadOnlyByteBuffer();
                for (int i = 0; i < s.count; i++) {
                    int g = s.groups[i];
                    int values = batch.groupSize(g) * hidden;
                    Bf16Rows.unpack(bytes, batch.output(), batch.groupStart()[g] * hidden, values);
                    bytes.position(bytes.position() + values * 2);
                }
            } catch (TimeoutException e) {
                s.client.reset("no answer within " + timeout.toMillis() + " ms");
                failure = first(failure, new IllegalStateException("expert service " + s.client.address()
                        + " did not answer layer " + batch.layer() + " within " + timeout.toMillis() + " ms"));
            } catch (ExecutionException e) {
                failure = first(failure, new IllegalStateException("expert service " + s.client.address()
                        + " failed on layer " + batch.layer() + ": " + describe(e.getCause()), e.getCause()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure = first(failure, new IllegalStateException("interrupted waiting for expert services"));
            } catch (RuntimeException e) {
                failure = first(failure, e);
            }
        }
        if (failure != null) throw failure;
        latency.record(lastArrival - started, slowestCompute);
    }

    private static RuntimeException first(RuntimeException already, RuntimeException next) {
        return already != null ? already : next;
    }

    private static String describe(Throwable t) {
        Status s = Status.fromThrowable(t);
        return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    }

    private record Sent(ExpertClient client, int[] groups, int count, int rows,
                        CompletableFuture<ExpertClient.Answer> answer) {}
}
