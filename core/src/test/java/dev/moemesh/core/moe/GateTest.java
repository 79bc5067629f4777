package dev.moemesh.core.moe;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.tensor.F32Matrix;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class GateTest {

    private static ModelConfig config(ObjectNode json) {
        return ModelConfig.parse(json, Path.of("config.json"));
    }

    /**
     * 8 experts in 4 groups of 2, top-2 groups, top-3 experts, sigmoid scores with a correction bias.
     * Scores s = [.9 .1 | .6 .5 | .2 .95 | .3 .35], bias b = [0 0 | 0 0 | 0 -.5 | .4 .4].
     * Choice s+b = [.9 .1 | .6 .5 | .2 .45 | .7 .75]; group scores (top-2 sums) = [1.0, 1.1, .65, 1.45]:
     * groups 3 and 1 survive. Top-3 of their choices: 7 (.75), 6 (.7), 2 (.6).
     * Weights are the unbiased scores .35, .3, .6, normalised by 1.25 and scaled by 2.5: .7, .6, 1.2.
     * Expert 5 has the best raw score but its bias and group rule it out; expert 0 is best in a losing group.
     */
    @Test
    void sigmoidGroupRoutingPicksTheReferenceExperts() {
        ObjectNode json = Preset.TINY_V3.config().put("n_routed_experts", 8).put("n_group", 4).put("topk_group", 2)
                .put("num_experts_per_tok", 3).put("routed_scaling_factor", 2.5).put("hidden_size", 8);
        double[] s = {.9, .1, .6, .5, .2, .95, .3, .35};
        float[] bias = {0, 0, 0, 0, 0, -.5f, .4f, .4f};
        // identity gate weight, inputs = logit(s): the sigmoid gives back s
        float[] eye = new float[64];
        for (int i = 0; i < 8; i++) eye[i * 8 + i] = 1;
        float[] x = new float[8];
        for (int i = 0; i < 8; i++) x[i] = (float) Math.log(s[i] / (1 - s[i]));
        Gate gate = new Gate(config(json), new F32Matrix(8, 8, eye), bias);
        Routing r = gate.route(x, 1, new float[8]);
        assertArrayEquals(new int[] {7, 6, 2}, r.experts());
        assertEquals(0.7f, r.weight(0, 0), 1e-5);
        assertEquals(0.6f, r.weight(0, 1), 1e-5);
        assertEquals(1.2f, r.weight(0, 2), 1e-5);
    }

    /** V2-Lite: softmax over all experts, plain top-k, weights neither normalised nor scaled (factor 1). */
    @Test
    void softmaxGreedyRoutingKeepsRawProbabilities() {
        ObjectNode json = Preset.TINY_V2LITE.config().put("n_routed_experts", 4).put("num_experts_per_tok", 2)
                .put("hidden_size", 4);
        float[] eye = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
        float[] x = {1f, 3f, 2f, 3f};
        Routing r = new Gate(config(json), new F32Matrix(4, 4, eye), null).route(x, 1, new float[4]);
        double z = Math.exp(1) + 2 * Math.exp(3) + Math.exp(2);
        assertArrayEquals(new int[] {1, 3}, r.experts(), "ties go to the lower index");
        assertEquals(Math.exp(3) / z, r.weight(0, 0), 1e-6);
        assertEquals(Math.exp(3) / z, r.weight(0, 1), 1e-6);
    }

    /** V2 group-limited greedy: a group scores as its best expert (no bias), the V2 gate scales unnormalised weights. */
    @Test
    void groupLimitedGreedyScoresGroupsByTheirBestExpert() {
        ObjectNode json = Preset.TINY_V2LITE.config().put("n_routed_experts", 6).put("num_experts_per_tok", 2)
                .put("hidden_size", 6).put("n_group", 3).put("topk_group", 1).put("topk_method", "group_limited_greedy")
                .put("routed_scaling_factor", 16.0);
        float[] eye = new float[36];
        for (int i = 0; i < 6; i++) eye[i * 6 + i] = 1;
        // group 0 = {2.0, 1.9} (sum wins), group 1 = {2.1, 0} (max wins): max rule picks group 1
        float[] x = {2.0f, 1.9f, 2.1f, 0f, 0f, 0f};
        Routing r = new Gate(config(json), new F32Matrix(6, 6, eye), null).route(x, 1, new float[6]);
        assertArrayEquals(new int[] {2, 3}, r.experts());
        double z = Math.exp(2.0) + Math.exp(1.9) + Math.exp(2.1) + 3;
        assertEquals(16 * Math.exp(2.1) / z, r.weight(0, 0), 1e-5);
    }

    @Test
    void dispatchGroupsByAscendingExpertAndCombineAddsInThatOrder() {
        Routing routing = new Routing(2, 2, new int[] {3, 1, 1, 0}, new float[] {0.5f, 2f, 1f, 4f});
        float[] x = {1f, 2f, 3f, 4f};
        RoutedBatch b = Dispatcher.dispatch(0, x, 2, routing, 4);
        assertArrayEquals(new int[] {0, 1, 3}, b.expertIds());
        assertArrayEquals(new int[] {0, 1, 3, 4}, b.groupStart());
        assertArrayEquals(new int[] {1, 0, 1, 0}, b.tokenRow());
        // an "expert" that doubles its input
        for (int i = 0; i < b.input().length; i++) b.output()[i] = 2 * b.input()[i];
        float[] y = new float[4];
        Dispatcher.combine(b, routing, y);
        assertArrayEquals(new float[] {(2f * 2 + 0.5f * 2) * 1, (2f * 4 + 0.5f * 4), (4f * 6 + 1f * 6), (4f * 8 + 1f * 8)}, y);
    }
}
