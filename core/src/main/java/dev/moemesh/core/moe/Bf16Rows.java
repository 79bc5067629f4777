package dev.moemesh.core.moe;

import dev.moemesh.core.numeric.Bf16;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Token rows as they travel between services: each float rounded to bf16 (nearest, ties to even) and stored as
 * two little-endian bytes, rows back to back.
 */
public final class Bf16Rows {
    private Bf16Rows() {}

    /** The bf16 bytes of {@code values[from, from + count)}. */
    public static byte[] pack(float[] values, int from, int count) {
        ByteBuffer out = ByteBuffer.allocate(count * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) out.putShort(Bf16.fromFloat(values[from + i]));
        return out.array();
    }

    /** Writes the bf16 bytes of {@code values[from, from + count)} into {@code into} from byte {@code at}. */
    public static void pack(float[] values, int from, int count, byte[] into, int at) {
        for (int i = 0; i < count; i++) {
            short b = Bf16.fromFloat(values[from + i]);
            into[at + 2 * i] = (byte) b;
            into[at + 2 * i + 1] = (byte) (b >>> 8);
        }
    }

    /** Decodes {@code count} values from {@code bytes} (little-endian, from its position) into {@code into[at..]}. */
    public static void unpack(ByteBuffer bytes, float[] into, int at, int count) {
        if (bytes.remaining() < count * 2) {
            throw new IllegalArgumentException(bytes.remaining() + " bytes cannot hold " + count + " bf16 values");
        }
        ByteBuffer in = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) into[at + i] = Bf16.toFloat(in.getShort());
    }

    /** Decodes every remaining byte pair of {@code bytes} into {@code into}, from index 0. */
    public static void unpack(ByteBuffer bytes, float[] into) {
        if (bytes.remaining() % 2 != 0 || bytes.remaining() / 2 > into.length) {
            throw new IllegalArgumentException(bytes.remaining() + " bytes are not " + into.length + " bf16 values or fewer");
        }
        ByteBuffer in = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; in.hasRemaining(); i++) into[i] = Bf16.toFloat(in.getShort());
    }
}
