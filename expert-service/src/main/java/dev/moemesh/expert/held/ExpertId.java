package dev.moemesh.expert.held;

import dev.moemesh.proto.LayerExpert;

/** One routed expert of one MoE layer, as the checkpoint names it ({@code model.layers.<layer>.mlp.experts.<expert>}). */
public record ExpertId(int layer, int expert) implements Comparable<ExpertId> {

    @Override
    public int compareTo(ExpertId o) {
        return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(expert, o.expert);
    }

    /** As the wire names it (Describe, LoadExperts, Register). */
    public LayerExpert toProto() {
        return LayerExpert.newBuilder().setLayer(layer).setExpert(expert).build();
    }

    @Override
    public String toString() {
        return layer + ":" + expert;
    }
}
