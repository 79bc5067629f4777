package dev.moemesh.core.moe;

/**
 * One logical routed expert of one MoE layer, as the checkpoint names it
 * ({@code model.layers.<layer>.mlp.experts.<expert>}); ordered by layer, then expert.
 */
public record ExpertId(int layer, int expert) implements Comparable<ExpertId> {

    @Override
    public int compareTo(ExpertId o) {
        return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(expert, o.expert);
    }

    @Override
    public String toString() {
        return layer + ":" + expert;
    }
}
