package dev.moemesh.cuda;

import dev.moemesh.core.tensor.Parallel;
import dev.moemesh.core.tensor.Vectors;

import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * The host's side of a batch: its inputs rounded to bf16 into pinned staging, its fp32 outputs copied out of pinned
 * memory, both on all cores for large batches (a batch of decode size stays on the calling thread).
 */
final class HostCopies {
    /** Values a core converts or copies at a time; also the per-thread scratch of bf16 values. */
    static final int GRAIN = 1 << 16;
    private static final ThreadLocal<short[]> SCRATCH = ThreadLocal.withInitial(() -> new short[GRAIN]);

    private HostCopies() {}

    /** {@code out.put(i, Bf16.fromFloat(in[i]))} for {@code i < count}. */
    static void toBf16(float[] in, int count, ShortBuffer out) {
        Parallel.forRange(chunks(count), 1, (from, to) -> {
            short[] scratch = SCRATCH.get();
            for (int c = from; c < to; c++) {
                int at = c * GRAIN;
                int n = Math.min(GRAIN, count - at);
                Vectors.toBf16Bits(in, at, scratch, 0, n);
                out.put(at, scratch, 0, n);
            }
        });
    }

    /** {@code out[i] = in.get(i)} for {@code i < count}. */
    static void copy(FloatBuffer in, int count, float[] out) {
        Parallel.forRange(chunks(count), 1, (from, to) -> {
            int at = from * GRAIN;
            in.get(at, out, at, Math.min(to * GRAIN, count) - at);
        });
    }

    private static int chunks(int count) {
        return (count + GRAIN - 1) / GRAIN;
    }
}
