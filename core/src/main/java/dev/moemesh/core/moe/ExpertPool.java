package dev.moemesh.core.moe;

import dev.moemesh.core.weights.WeightReader;

/**
 * A set of routed experts resident on one device (this process's CPU, or a GPU) that grows and shrinks one expert
 * at a time while batches run: a batch that started with an expert finishes with it.
 */
public interface ExpertPool extends ExpertBackend, AutoCloseable {

    /** Reads expert {@code expert} of MoE layer {@code layer} from the checkpoint, unless it is held already. */
    void add(WeightReader reader, int layer, int expert);

    void remove(int layer, int expert);

    boolean holds(int layer, int expert);

    /** Where the experts live, for logs and stats: {@code cpu}, {@code cuda:0 NVIDIA H100 ...}. */
    String device();

    /** Frees what the experts hold (device memory); the pool is unusable afterwards. */
    @Override
    void close();
}
