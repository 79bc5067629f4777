package dev.moemesh.expert.api;

import dev.moemesh.core.moe.Bf16Rows;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.RunExpertsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Checks one {@code RunExpertsRequest} and computes it: decodes the bf16 rows, runs each group through its
 * expert, counts the rows and packs the outputs. Refusals are gRPC statuses whose description names the field,
 * the values and, for experts, the layer and expert id (docs/wire.md lists them).
 */
final class ExpertRun {
    private static final int[] NO_TOKEN_ROWS = new int[0];

    private final HeldExperts held;
    private final ExpertTokenCounters counters;
    private final long minPlacementVersion;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();

    ExpertRun(HeldExperts held, ExpertTokenCounters counters, long minPlacementVersion) {
        this.held = held;
        this.counters = counters;
        this.minPlacementVersion = minPlacementVersion;
    }

    long requests() {
        return requests.get();
    }

    long refused() {
        return refused.get();
    }

    /** The outputs, bf16 in the request's layout; throws a StatusRuntimeException when the request is refused. */
    byte[] run(RunExpertsRequest r) {
        requests.incrementAndGet();
        try {
            return compute(r);
        } catch (StatusRuntimeException e) {
            refused.incrementAndGet();
            throw e;
        }
    }

    private byte[] compute(RunExpertsRequest r) {
        checkVersions(r);
        int layer = r.getLayer();
        if (!held.config().isMoeLayer(layer)) { // also with no groups: the backend looks the layer up either way
            throw invalid("layer " + Integer.toUnsignedString(layer) + " is not a MoE layer of this model ("
                    + held.config().allLayers() + " layers, MoE from layer " + held.config().firstKDenseReplace() + ")");
        }
        int hidden = held.config().hiddenSize();
        if (r.getHidden() != hidden) {
            throw invalid("hidden = " + r.getHidden() + " but the model's hidden_size is " + hidden);
        }
        int groups = r.getExpertIdsCount();
        if (r.getGroupSizesCount() != groups) {
            throw invalid("expert_ids has " + groups + " entries but group_sizes has " + r.getGroupSizesCount()
                    + "; they pair up, one size per expert");
        }
        long rows = 0;
        for (int g = 0; g < groups; g++) rows += Integer.toUnsignedLong(r.getGroupSizes(g));
        long expectedBytes = rows * hidden * 2;
        if (r.getHiddenStates().size() != expectedBytes) {
            throw invalid("hidden_states has " + r.getHiddenStates().size() + " bytes but sum(group_sizes) = " + rows
                    + " rows x hidden " + hidden + " x 2 bytes (bf16) = " + expectedBytes);
        }
        int[] ids = new int[groups];
        int[] starts = new int[groups + 1];
        for (int g = 0; g < groups; g++) {
            ids[g] = checkHeld(layer, r.getExpertIds(g));
            starts[g + 1] = starts[g] + r.getGroupSizes(g);
        }

        float[] input = new float[(int) rows * hidden];   // (rows, hidden)
        float[] output = new float[input.length];         // (rows, hidden)
        Bf16Rows.unpack(r.getHiddenStates().asReadOnlyByteBuffer(), input);
        try {
            held.backend().run(new RoutedBatch(layer, hidden, ids, starts, NO_TOKEN_ROWS, input, output));
        } catch (IllegalArgumentException unloadedMeanwhile) {
            throw Status.NOT_FOUND.withDescription(unloadedMeanwhile.getMessage() + " (unloaded while this request ran)"
                    + "; check the placement").asRuntimeException();
        }
        for (int g = 0; g < groups; g++) counters.add(new ExpertId(layer, ids[g]), r.getGroupSizes(g));
        return Bf16Rows.pack(output, 0, output.length);
    }

    private void checkVersions(RunExpertsRequest r) {
        if (!r.getModelFingerprint().equals(held.fingerprint())) {
            throw Status.FAILED_PRECONDITION.withDescription("model_fingerprint '" + r.getModelFingerprint()
                    + "' is not this service's model '" + held.fingerprint() + "'; route to services of your model")
                    .asRuntimeException();
        }
        if (r.getPlacementVersion() < minPlacementVersion) {
            throw Status.FAILED_PRECONDITION.withDescription("placement_version " + r.getPlacementVersion()
                    + " is older than the oldest this service accepts, " + minPlacementVersion
                    + "; apply the current placement and resend").asRuntimeException();
        }
    }

    private int checkHeld(int layer, int expert) {
        if (!held.inModel(layer, expert)) {
            throw invalid("layer " + layer + " expert " + expert + " is not a routed expert of this model ("
                    + held.config().allLayers() + " layers, MoE from layer " + held.config().firstKDenseReplace()
                    + ", " + held.config().nRoutedExperts() + " routed experts each)");
        }
        if (!held.holds(layer, expert)) {
            throw Status.NOT_FOUND.withDescription("layer " + layer + " expert " + expert
                    + " is not held by this service; check the placement").asRuntimeException();
        }
        return expert;
    }

    private static StatusRuntimeException invalid(String why) {
        return Status.INVALID_ARGUMENT.withDescription(why).asRuntimeException();
    }
}
