package dev.moemesh.attention.experts;

/**
 * Which replica of an expert a group goes to, within one layer's call: never a service that failed in this call;
 * the sole holder whatever its breaker says; else an open replica whose probe is due (while nothing has failed in
 * the call), else the least busy closed one, else the least busy open one (trying beats failing). A closed replica
 * whose stream broke since its last call opens here, so no call waits for its connection while a replica is up.
 */
final class ReplicaChooser {

    /** What the choice reads of a placement's services, by index, and what it does to one. */
    interface Services {
        /** Whether its breaker is closed: it takes work. */
        boolean closed(int service);

        /** Rows sent to it and not answered yet, by every call. */
        long outstandingRows(int service);

        /** Whether its stream broke since its last call. */
        boolean streamBroken(int service);

        /** Whether its channel is connected now (one that is not starts connecting). */
        boolean connectedNow(int service);

        /** Claims the probe of its open breaker, when the back-off has passed. */
        boolean tryProbe(int service);

        /** Opens its breaker. */
        void failed(int service);
    }

    private final Services services;
    private final int size;
    private boolean[] failed; // services that failed in this call; null until one does
    private boolean[] probes; // services sent a probe by this call; null unless one is

    ReplicaChooser(Services services, int size) {
        this.services = services;
        this.size = size;
    }

    /**
     * The service for a group of an expert held by {@code replicas}, -1 when every one has failed in this call.
     *
     * @param rowsThisCall rows already given to each service in this round, added to its outstanding rows
     */
    int choose(int[] replicas, int[] rowsThisCall) {
        if (replicas.length == 1) return failed != null && failed[replicas[0]] ? -1 : replicas[0];
        int closed = -1;
        int open = -1;
        long closedLoad = Long.MAX_VALUE;
        long openLoad = Long.MAX_VALUE;
        for (int c : replicas) {
            if (failed != null && failed[c]) continue;
            // a stream that broke between calls failed no answer, but the next one would: after a connect wait
            if (services.closed(c) && services.streamBroken(c)) services.failed(c);
            long load = services.outstandingRows(c) + rowsThisCall[c];
            if (services.closed(c)) {
                if (load < closedLoad) {
                    closed = c;
                    closedLoad = load;
                }
            } else {
                if (failed == null && probe(c)) return c;
                if (load < openLoad) {
                    open = c;
                    openLoad = load;
                }
            }
        }
        return closed >= 0 ? closed : open;
    }

    /** Claims the probe of service c's open breaker; a probe is only sent over a connected channel. */
    private boolean probe(int c) {
        if (!services.tryProbe(c)) return false;
        if (!services.connectedNow(c)) {
            services.failed(c);
            return false;
        }
        if (probes == null) probes = new boolean[size];
        probes[c] = true;
        return true;
    }

    /** Service c failed in this call: no group of it goes there again. */
    void failedInCall(int c) {
        if (failed == null) failed = new boolean[size];
        failed[c] = true;
    }

    /** Whether this call sent service c a probe. */
    boolean probed(int c) {
        return probes != null && probes[c];
    }
}
