package dev.moemesh.orchestrator.ingest;

import java.util.TreeSet;

/**
 * The offsets of one partition taken but not yet finished, so that the committed position never passes a record
 * whose terminal event (or dead letter) the broker has not acknowledged. Used by the consumer thread only.
 */
final class OffsetLedger {
    private final TreeSet<Long> unfinished = new TreeSet<>();
    private long next = -1;
    private long committed = -1;

    /** A record at {@code offset} was taken; it stays unfinished until {@link #finish}. */
    void take(long offset) {
        unfinished.add(offset);
        next = Math.max(next, offset + 1);
    }

    void finish(long offset) {
        unfinished.remove(offset);
    }

    /** The position to commit (the lowest unfinished offset, else past the last taken), or -1 when nothing is new. */
    long commitPosition() {
        long position = unfinished.isEmpty() ? next : unfinished.first();
        return position > committed ? position : -1;
    }

    void committed(long position) {
        committed = position;
    }

    int unfinished() {
        return unfinished.size();
    }
}
