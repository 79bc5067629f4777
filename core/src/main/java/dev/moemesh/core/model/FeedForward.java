package dev.moemesh.core.model;

/** The second half of a transformer block: a dense SwiGLU MLP or a mixture of experts. */
public interface FeedForward {

    /** {@code out = ffn(x)} for {@code rows} rows of (rows, hidden). */
    void apply(float[] x, int rows, float[] out, Workspace ws);
}
