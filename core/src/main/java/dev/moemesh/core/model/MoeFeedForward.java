package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.config.TopkMethod;
import dev.moemesh.core.moe.Dispatcher;
import dev.moemesh.core.moe.ExpertBackend;
import dev.moemesh.core.moe.ExpertsUnservedException;
import dev.moemesh.core.moe.Gate;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.moe.Routing;
import dev.moemesh.core.weights.WeightReader;

import java.util.Arrays;

/**
 * DeepSeek's MoE feed-forward: route, dispatch the token rows to the routed experts, run the shared experts
 * meanwhile, combine. {@code y = Σ_e w_e · E_e(x) + shared(x)}.
 */
public final class MoeFeedForward implements FeedForward {
    private final int layer;
    private final ModelConfig config;
    private final Gate gate;
    private final SwiGluMlp shared; // null when the model has no shared experts
    private ExpertBackend experts;

    public MoeFeedForward(int layer, ModelConfig config, Gate gate, SwiGluMlp shared, ExpertBackend experts) {
        this.layer = layer;
        this.config = config;
        this.gate = gate;
        this.shared = shared;
        this.experts = experts;
    }

    public static MoeFeedForward load(WeightReader r, String prefix, int layer, ModelConfig c, ExpertBackend experts) {
        float[] bias = c.topkMethod() == TopkMethod.NOAUX_TC
                ? r.vector(prefix + "gate.e_score_correction_bias", c.nRoutedExperts()) : null;
        Gate gate = new Gate(c, r.f32Matrix(prefix + "gate.weight", c.nRoutedExperts(), c.hiddenSize()), bias);
        SwiGluMlp shared = c.nSharedExperts() == 0 ? null
                : SwiGluMlp.load(r, prefix + "shared_experts.", c.hiddenSize(), c.moeIntermediateSize() * c.nSharedExperts());
        return new MoeFeedForward(layer, c, gate, shared, experts);
    }

    void useExperts(ExpertBackend backend) {
        this.experts = backend;
    }

    @Override
    public void apply(float[] x, int rows, float[] out, Workspace ws) {
        int hidden = config.hiddenSize();
        int nRouted = config.nRoutedExperts();
        int k = config.numExpertsPerTok();
        Routing routing = new Routing(rows, k, ws.ints(Workspace.IntSlot.ROUTING_EXPERTS, rows * k),
                ws.buffer(Workspace.Slot.ROUTING_WEIGHTS, rows * k));
        gate.route(x, rows, ws.buffer(Workspace.Slot.LOGITS_IN, rows * nRouted), routing,
                ws.buffer(Workspace.Slot.GATE_SCRATCH, gate.scratchSize()));
        RoutedBatch batch = ws.routedBatch(hidden);
        Dispatcher.dispatch(layer, x, routing, nRouted, batch, ws.ints(Workspace.IntSlot.DISPATCH_COUNTS, 2 * nRouted));
        ExpertBackend.Pending routed;
        ExpertsUnservedException missed = null;
        try {
            routed = experts.submit(batch);
        } catch (ExpertsUnservedException e) { // a backend that computes in this thread reports it here
            routed = ExpertBackend.Pending.DONE;
            missed = e;
        }
        float[] s = null;
        if (shared != null) { // while the routed experts run elsewhere
            s = ws.buffer(Workspace.Slot.SHARED, rows * hidden);
            shared.apply(x, rows, s, ws);
        }
        try {
            ws.awaitExperts(routed);
        } catch (ExpertsUnservedException e) {
            missed = e;
        }
        if (missed != null) unserved(batch, missed, ws);
        Dispatcher.combine(batch, routing, out);
        if (s != null) {
            for (int i = 0; i < rows * hidden; i++) out[i] += s[i];
        }
    }

    /**
     * Some experts of the batch were not computed: their rows are marked in the workspace (the engine sets their
     * sequences aside) and their outputs zeroed, so the pass goes on with finite values; no other row reads them.
     */
    private static void unserved(RoutedBatch batch, ExpertsUnservedException why, Workspace ws) {
        int hidden = batch.hidden();
        for (int g = 0; g < batch.groups(); g++) {
            if (!why.unserved(batch.expertIds()[g])) continue;
            for (int a = batch.groupStart()[g]; a < batch.groupStart()[g + 1]; a++) {
                ws.unserved(batch.tokenRow()[a], why);
                Arrays.fill(batch.output(), a * hidden, (a + 1) * hidden, 0f);
            }
        }
    }
}
