package dev.moemesh.core.moe;

/**
 * Whatever computes routed experts: in this process ({@code LocalExperts}) or in expert services across the mesh.
 * It fills {@code batch.output()} for every group of the batch.
 */
public interface ExpertBackend {

    void run(RoutedBatch batch);

    /**
     * Starts computing {@code batch} and returns at once where the work happens elsewhere, so the caller can run
     * the shared experts meanwhile; {@link Pending#await} returns once {@code batch.output()} is filled. A backend
     * that computes in this thread does it here and returns a finished handle.
     */
    default Pending submit(RoutedBatch batch) {
        run(batch);
        return Pending.DONE;
    }

    /** Routed experts under way. */
    interface Pending {
        Pending DONE = () -> {};

        /** Waits for the outputs; throws when they cannot come (an expert service failed, a deadline passed). */
        void await();
    }
}
