package dev.moemesh.core.safetensors;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A downloaded checkpoint's shard may hold any bytes: opening it and reading every tensor it names gives values of the
 * size its header promises, or a {@link CheckpointException} naming the file; never a read outside the file, never
 * another exception. Seeds: src/test/resources/dev/moemesh/core/safetensors/SafetensorsFuzzTestInputs.
 */
class SafetensorsFuzzTest {

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F32\"", "\"BF16\"", "\"F16\"",
            "\"F8_E4M3\"", "\"I64\"", "\"__metadata__\"", "_scale_inv", "\"w\"", "\"w_scale_inv\"", "[0, 8]",
            "[2, 2]", "[1]", "[]", "-1", "9223372036854775807"})
    void shardOpensIntoTensorsItHoldsOrIsRefused(FuzzedDataProvider data) throws IOException {
        boolean wellFramed = data.consumeBoolean();
        String header = wellFramed ? data.consumeString(512) : "";
        byte[] rest = data.consumeRemainingAsBytes();
        Path dir = Files.createTempDirectory("fuzzed-checkpoint");
        try {
            Path shard = wellFramed ? RawSafetensors.write(dir.resolve("model.safetensors"), header, rest)
                    : Files.write(dir.resolve("model.safetensors"), rest);
            try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
                for (String name : checkpoint.tensorNames()) {
                    TensorInfo info = checkpoint.info(name);
                    assertTrue(info.offset() >= 8 && info.offset() + info.byteLength() <= Files.size(shard),
                            "tensor '" + name + "' reaches past the file: " + info);
                    readAll(checkpoint, info);
                }
            } catch (CheckpointException refused) {
                assertTrue(refused.getMessage().contains(dir.toString()) || refused.getMessage().contains("tensor '"),
                        "a refusal that names neither the file nor the tensor: " + refused.getMessage());
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(SafetensorsFuzzTest::delete);
            }
        }
    }

    private static void readAll(SafetensorsCheckpoint checkpoint, TensorInfo info) {
        String name = info.name();
        if (info.elementCount() > 1 << 16) return; // a shape the fuzzer makes cheaply and the JVM cannot hold
        assertEquals(info.elementCount(), checkpoint.readFloats(name).length, name);
        if (info.elementCount() % 2 == 0) {
            assertEquals(info.elementCount() / 2, checkpoint.readBf16Pairs(name).length, name);
        }
        if (checkpoint.isBlockScaledFp8(name)) {
            assertEquals(info.elementCount(), checkpoint.readFp8Codes(name).length, name);
            checkpoint.readFp8Scales(name);
        }
    }

    private static void delete(Path path) {
        try {
            Files.delete(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
