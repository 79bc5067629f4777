package dev.moemesh.core.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files past 2 GiB, made sparse so the tests cost no disk and no time. */
class LargeFileTest {

    @TempDir
    Path dir;

    private static final long THREE_GIB = 3L << 30;

    /** Writes a header, then {@code data} at {@code dataOffset} past the header, leaving a hole before it. */
    private Path sparseFile(String header, long dataOffset, byte[] data) throws IOException {
        Path file = RawSafetensors.write(dir.resolve("model.safetensors"), header, new byte[0]);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(data), channel.size() + dataOffset);
        }
        return file;
    }

    @Test
    void tensorAtAnOffsetPastThreeGibibytesReads() throws IOException {
        long begin = THREE_GIB;
        sparseFile("{\"far\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + begin + "," + (begin + 8) + "]}}",
                begin, RawSafetensors.floats(1.5f, -7f));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertTrue(checkpoint.info("far").offset() > THREE_GIB);
            assertArrayEquals(new float[]{1.5f, -7f}, checkpoint.readFloats("far"));
            assertArrayEquals(new int[]{0xC0E03FC0}, checkpoint.readBf16Pairs("far"));
        }
    }

    @Test
    void tensorTooLargeForAJavaArrayIsACheckpointError() throws IOException {
        long elements = 1L << 31;
        sparseFile("{\"huge\":{\"dtype\":\"F8_E4M3\",\"shape\":[" + elements + "],\"data_offsets\":[0," + elements + "]}}",
                elements - 1, new byte[1]);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(elements, checkpoint.info("huge").elementCount());
            CheckpointException e = assertThrows(CheckpointException.class, () -> checkpoint.readFloats("huge"));
            assertTrue(e.getMessage().contains("'huge'") && e.getMessage().contains("Java array"), e.getMessage());
        }
    }
}
