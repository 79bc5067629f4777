package dev.moemesh.core.safetensors;

import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;

/**
 * Reads one tensor's bytes through memory-mapped windows, so tensors past 2 GiB offsets (or larger
 * than one mapping can hold) read the same way as small ones.
 */
final class MappedTensor {

    /** Receives decoded elements {@code [first, first + count)} of a tensor in {@code values[0, count)}. */
    @FunctionalInterface
    interface FloatChunkSink {
        void accept(float[] values, int count, long first);
    }

    /** A multiple of every element size and of {@link #CHUNK_ELEMENTS} times it, so no element or chunk straddles windows. */
    static final long DEFAULT_WINDOW_BYTES = 1L << 30;
    /** Small enough to stay in cache, large enough that the per-chunk call costs nothing. */
    private static final int CHUNK_ELEMENTS = 1 << 16;

    private final FileChannel channel;
    private final TensorInfo info;
    private final long windowBytes;

    MappedTensor(FileChannel channel, TensorInfo info, long windowBytes) {
        this.channel = channel;
        this.info = info;
        this.windowBytes = windowBytes;
    }

    /** Copies the raw little-endian bytes as ints: element 2i in the low half, 2i+1 in the high half. */
    void copyInts(int[] out) {
        for (long pos = 0; pos < info.byteLength(); pos += windowBytes) {
            ByteBuffer window = map(pos);
            window.asIntBuffer().get(out, (int) (pos / Integer.BYTES), window.remaining() / Integer.BYTES);
        }
    }

    /** Copies the raw bytes (one FP8 code each). */
    void copyBytes(byte[] out) {
        for (long pos = 0; pos < info.byteLength(); pos += windowBytes) {
            ByteBuffer window = map(pos);
            window.get(out, (int) pos, window.remaining());
        }
    }

    /** Whether {@code other} (of the same checkpoint and byte length) holds the same bytes, compared window by window. */
    boolean sameBytes(MappedTensor other) {
        for (long pos = 0; pos < info.byteLength(); pos += windowBytes) {
            if (!map(pos).equals(other.map(pos))) return false;
        }
        return true;
    }

    /** Decodes every element to float and hands them to {@code sink} in order, a chunk at a time. */
    void forEachFloatChunk(FloatChunkSink sink) {
        int elementBytes = info.dtype().bytes();
        float[] values = new float[CHUNK_ELEMENTS];
        for (long pos = 0; pos < info.byteLength(); pos += windowBytes) {
            ByteBuffer window = map(pos);
            long first = pos / elementBytes;
            int n = window.remaining() / elementBytes;
            switch (info.dtype()) {
                case F32 -> {
                    FloatBuffer view = window.asFloatBuffer();
                    for (int i = 0; i < n; i += CHUNK_ELEMENTS) {
                        int count = Math.min(CHUNK_ELEMENTS, n - i);
                        view.get(values, 0, count);
                        sink.accept(values, count, first + i);
                    }
                }
                case BF16, F16 -> {
                    ShortBuffer view = window.asShortBuffer();
                    short[] raw = new short[Math.min(CHUNK_ELEMENTS, n)];
                    boolean bf16 = info.dtype() == DType.BF16;
                    for (int i = 0; i < n; i += CHUNK_ELEMENTS) {
                        int count = Math.min(CHUNK_ELEMENTS, n - i);
                        view.get(raw, 0, count);
                        for (int j = 0; j < count; j++) {
                            values[j] = bf16 ? Bf16.toFloat(raw[j]) : Float.float16ToFloat(raw[j]);
                        }
                        sink.accept(values, count, first + i);
                    }
                }
                case F8_E4M3 -> {
                    byte[] raw = new byte[Math.min(CHUNK_ELEMENTS, n)];
                    for (int i = 0; i < n; i += CHUNK_ELEMENTS) {
                        int count = Math.min(CHUNK_ELEMENTS, n - i);
                        window.get(raw, 0, count);
                        for (int j = 0; j < count; j++) {
                            values[j] = Fp8E4m3.toFloat(raw[j]);
                        }
                        sink.accept(values, count, first + i);
                    }
                }
            }
        }
    }

    private ByteBuffer map(long pos) {
        long length = Math.min(windowBytes, info.byteLength() - pos);
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, info.offset() + pos, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new CheckpointException(info.file() + ": could not map tensor '" + info.name() + "' (bytes "
                    + (info.offset() + pos) + " to " + (info.offset() + pos + length) + "): " + e.getMessage(), e);
        }
    }
}
