package dev.moemesh.core.moe;

/**
 * Whatever computes routed experts: in this process ({@link LocalExperts}) or in expert services across the mesh.
 * It fills {@code batch.output()} for every group of the batch.
 */
public interface ExpertBackend {

    void run(RoutedBatch batch);
}
