package dev.moemesh.cli;

import dev.moemesh.core.tensor.Parallel;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Measures how fast all cores together can stream a buffer much larger than the caches: the bound of batch-1 decode. */
final class MemoryBandwidth {
    private static final VectorSpecies<Integer> S = IntVector.SPECIES_256;

    private MemoryBandwidth() {}

    /** The best of five passes reading 1 GiB, in GB/s (10^9 bytes). */
    static double readGigabytesPerSecond() {
        int[] data = new int[1 << 28];
        for (int i = 0; i < data.length; i += 1024) data[i] = i;
        long[] sink = new long[1];
        double best = 0;
        for (int pass = 0; pass < 5; pass++) {
            long t0 = System.nanoTime();
            int chunks = 1024;
            int per = data.length / chunks;
            Parallel.forRange(chunks, 1, (from, to) -> {
                IntVector acc = IntVector.zero(S);
                for (int c = from; c < to; c++) {
                    for (int i = c * per; i < (c + 1) * per; i += S.length()) acc = acc.add(IntVector.fromArray(S, data, i));
                }
                synchronized (sink) {
                    sink[0] += acc.reduceLanes(VectorOperators.ADD);
                }
            });
            best = Math.max(best, data.length * 4.0 / (System.nanoTime() - t0));
        }
        if (sink[0] == 42) System.err.print("");
        return best;
    }
}
