package dev.moemesh.core.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointRoundTripTest {

    @TempDir
    Path dir;

    private static final List<CheckpointWriter.TensorSpec> ONE_OF_EACH = List.of(
            new CheckpointWriter.TensorSpec("embed.weight", DType.BF16, new long[]{2, 3}),
            new CheckpointWriter.TensorSpec("norm.weight", DType.F16, new long[]{4}),
            new CheckpointWriter.TensorSpec("gate.weight", DType.F32, new long[]{2, 2}),
            new CheckpointWriter.TensorSpec("proj.weight", DType.F8_E4M3, new long[]{2, 4}));

    /** Element i of every tensor is i + 1 in its own type; for FP8 the code 0x38 + i (1, 1.125, ...). */
    private static void fillCounting(CheckpointWriter.TensorSpec spec, ByteBuffer out) {
        int n = (int) (spec.byteLength() / spec.dtype().bytes());
        for (int i = 0; i < n; i++) {
            switch (spec.dtype()) {
                case BF16 -> out.putShort(Bf16.fromFloat(i + 1));
                case F16 -> out.putShort(Float.floatToFloat16(i + 1));
                case F32 -> out.putFloat(i + 1);
                case F8_E4M3 -> out.put((byte) (0x38 + i));
            }
        }
    }

    private static float[] counting(int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = i + 1;
        }
        return values;
    }

    @Test
    void everyDtypeRoundTripsThroughOneFile() throws IOException {
        CheckpointWriter.write(dir, ONE_OF_EACH, Long.MAX_VALUE, CheckpointRoundTripTest::fillCounting);

        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("model.safetensors")), files.toList(), "one file and no index");
        }
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(Set.of("embed.weight", "norm.weight", "gate.weight", "proj.weight"), checkpoint.tensorNames());
            TensorInfo embed = checkpoint.info("embed.weight");
            assertEquals(DType.BF16, embed.dtype());
            assertArrayEquals(new long[]{2, 3}, embed.shape());
            assertEquals(6, embed.elementCount());
            assertEquals(12, embed.byteLength());
            assertArrayEquals(counting(6), checkpoint.readFloats("embed.weight"));
            assertArrayEquals(counting(4), checkpoint.readFloats("norm.weight"));
            assertArrayEquals(counting(4), checkpoint.readFloats("gate.weight"));
            float[] fp8 = new float[8];
            for (int i = 0; i < 8; i++) {
                fp8[i] = Fp8E4m3.toFloat((byte) (0x38 + i));
            }
            assertArrayEquals(fp8, checkpoint.readFloats("proj.weight"));
            assertEquals(1.125f, fp8[1]);
        }
    }

    @Test
    void headerIsAlignedAndTaggedAsPytorch() throws IOException {
        CheckpointWriter.write(dir, ONE_OF_EACH, Long.MAX_VALUE, CheckpointRoundTripTest::fillCounting);
        ByteBuffer file = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("model.safetensors"))).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = file.getLong(0);
        assertEquals(0, (8 + headerLength) % 8);
        JsonNode header = new ObjectMapper().readTree(new String(file.array(), 8, (int) headerLength, StandardCharsets.UTF_8));
        assertEquals("pt", header.path("__metadata__").path("format").asText());
        assertEquals(List.of("__metadata__", "embed.weight", "norm.weight", "gate.weight", "proj.weight"),
                fieldNames(header));
        assertEquals("[12,20]", header.path("norm.weight").path("data_offsets").toString());
        assertEquals(8 + headerLength + 12 + 8 + 16 + 8, file.capacity());
    }

    @Test
    void smallShardLimitSplitsIntoIndexedShards() throws IOException {
        List<CheckpointWriter.TensorSpec> specs = List.of(
                new CheckpointWriter.TensorSpec("a", DType.F32, new long[]{10}),  // 40 bytes
                new CheckpointWriter.TensorSpec("b", DType.F32, new long[]{5}),   // 20: a + b = 60 fits 64
                new CheckpointWriter.TensorSpec("c", DType.BF16, new long[]{4}),  // 8: would make 68
                new CheckpointWriter.TensorSpec("d", DType.F32, new long[]{30}),  // 120: alone, past the limit
                new CheckpointWriter.TensorSpec("e", DType.F8_E4M3, new long[]{2, 2}));
        CheckpointWriter.write(dir, specs, 64, CheckpointRoundTripTest::fillCounting);

        JsonNode index = new ObjectMapper().readTree(dir.resolve("model.safetensors.index.json").toFile());
        assertEquals(40 + 20 + 8 + 120 + 4, index.path("metadata").path("total_size").asLong());
        JsonNode weightMap = index.path("weight_map");
        assertEquals("model-00001-of-00004.safetensors", weightMap.path("a").asText());
        assertEquals("model-00001-of-00004.safetensors", weightMap.path("b").asText());
        assertEquals("model-00002-of-00004.safetensors", weightMap.path("c").asText());
        assertEquals("model-00003-of-00004.safetensors", weightMap.path("d").asText());
        assertEquals("model-00004-of-00004.safetensors", weightMap.path("e").asText());
        assertFalse(Files.exists(dir.resolve("model.safetensors")));

        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(5, checkpoint.tensorNames().size());
            assertEquals(dir.resolve("model-00003-of-00004.safetensors"), checkpoint.info("d").file());
            assertArrayEquals(counting(10), checkpoint.readFloats("a"));
            assertArrayEquals(counting(5), checkpoint.readFloats("b"));
            assertArrayEquals(counting(4), checkpoint.readFloats("c"));
            assertArrayEquals(counting(30), checkpoint.readFloats("d"));
            assertTrue(checkpoint.contains("e"));
            assertFalse(checkpoint.contains("f"));
        }
    }

    @Test
    void directoryWithoutIndexOpensEveryShardFile() throws IOException {
        RawSafetensors.write(dir.resolve("b.safetensors"),
                "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", RawSafetensors.floats(2f));
        RawSafetensors.write(dir.resolve("a.safetensors"),
                "{\"__metadata__\":{\"anything\":\"ignored\"},\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                RawSafetensors.floats(1f));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(Set.of("x", "y"), checkpoint.tensorNames());
            assertArrayEquals(new float[]{1f}, checkpoint.readFloats("x"));
            assertEquals(1, checkpoint.info("x").elementCount(), "a scalar has one element");
            assertArrayEquals(new float[]{2f}, checkpoint.readFloats("y"));
            assertEquals(dir, checkpoint.directory());
        }
    }

    @Test
    void bf16PairsAreBitExactCopiesOfBf16() {
        short[] bits = {0x3F80, (short) 0xC000, 0x7F81, (short) 0xFFFF, 0x0001, (short) 0x8000};
        CheckpointWriter.write(dir, List.of(new CheckpointWriter.TensorSpec("w", DType.BF16, new long[]{3, 2})),
                Long.MAX_VALUE, (spec, out) -> {
                    for (short b : bits) {
                        out.putShort(b);
                    }
                });
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertArrayEquals(new int[]{0xC0003F80, 0xFFFF7F81, 0x80000001}, checkpoint.readBf16Pairs("w"));
        }
    }

    @Test
    void f32AndF16PairsRoundToNearestEven() {
        float[] values = {
                1.0f,
                Float.intBitsToFloat(0x3F808000), // tie: down to even 0x3F80
                Float.intBitsToFloat(0x3F818000), // tie: up to even 0x3F82
                Float.intBitsToFloat(0x3F808001), // just past the tie: up to 0x3F81
                -2.5f,
                Float.MAX_VALUE};                 // past the largest bfloat16: infinity
        CheckpointWriter.write(dir, List.of(
                new CheckpointWriter.TensorSpec("f32", DType.F32, new long[]{6}),
                new CheckpointWriter.TensorSpec("f16", DType.F16, new long[]{2})),
                Long.MAX_VALUE, (spec, out) -> {
                    if (spec.dtype() == DType.F32) {
                        for (float v : values) {
                            out.putFloat(v);
                        }
                    } else {
                        out.putShort(Float.floatToFloat16(1.5f)).putShort(Float.floatToFloat16(-1.01171875f));
                    }
                });
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertArrayEquals(new int[]{0x3F803F80, 0x3F813F82, 0x7F80C020}, checkpoint.readBf16Pairs("f32"));
            // -1.01171875 is exact in f16 and is 0xBF818000 in f32, a tie that rounds to even 0xBF82
            assertArrayEquals(new int[]{0xBF823FC0}, checkpoint.readBf16Pairs("f16"));
        }
    }

    @Test
    void readsCrossingMappingWindowsMatchWholeReads() {
        int n = 1000;
        CheckpointWriter.write(dir, List.of(
                new CheckpointWriter.TensorSpec("f32", DType.F32, new long[]{n}),
                new CheckpointWriter.TensorSpec("bf16", DType.BF16, new long[]{n})),
                Long.MAX_VALUE, CheckpointRoundTripTest::fillCounting);
        try (SafetensorsCheckpoint whole = SafetensorsCheckpoint.open(dir);
             SafetensorsCheckpoint windowed = SafetensorsCheckpoint.open(dir, 128, 128, 64)) {
            assertArrayEquals(counting(n), windowed.readFloats("f32"));
            assertArrayEquals(whole.readFloats("bf16"), windowed.readFloats("bf16"));
            assertArrayEquals(whole.readBf16Pairs("bf16"), windowed.readBf16Pairs("bf16"));
            assertArrayEquals(whole.readBf16Pairs("f32"), windowed.readBf16Pairs("f32"));
        }
    }

    @Test
    void sameTensorComparesDtypeShapeScalesAndEveryByteAcrossShards() {
        int n = 1000;
        CheckpointWriter.write(dir, List.of(
                new CheckpointWriter.TensorSpec("head", DType.BF16, new long[]{10, 100}),
                new CheckpointWriter.TensorSpec("copy", DType.BF16, new long[]{10, 100}),
                new CheckpointWriter.TensorSpec("last", DType.BF16, new long[]{10, 100}),
                new CheckpointWriter.TensorSpec("reshaped", DType.BF16, new long[]{100, 10}),
                new CheckpointWriter.TensorSpec("f16", DType.F16, new long[]{10, 100}),
                new CheckpointWriter.TensorSpec("w", DType.F8_E4M3, new long[]{4, 4}),
                new CheckpointWriter.TensorSpec("w_scale_inv", DType.F32, new long[]{1, 1}),
                new CheckpointWriter.TensorSpec("w2", DType.F8_E4M3, new long[]{4, 4}),
                new CheckpointWriter.TensorSpec("w2_scale_inv", DType.F32, new long[]{1, 1}),
                new CheckpointWriter.TensorSpec("w3", DType.F8_E4M3, new long[]{4, 4}),
                new CheckpointWriter.TensorSpec("w3_scale_inv", DType.F32, new long[]{1, 1}),
                new CheckpointWriter.TensorSpec("unscaled", DType.F8_E4M3, new long[]{4, 4})),
                2 * n, (spec, out) -> {
                    int count = (int) (spec.byteLength() / spec.dtype().bytes());
                    for (int i = 0; i < count; i++) {
                        switch (spec.name()) {
                            case "last" -> out.putShort(Bf16.fromFloat(i == n - 1 ? 0 : i + 1));
                            case "w_scale_inv", "w2_scale_inv" -> out.putFloat(0.5f);
                            case "w3_scale_inv" -> out.putFloat(0.25f);
                            default -> {
                                if (spec.dtype() == DType.F8_E4M3) out.put((byte) (0x38 + i));
                                else out.putShort(Bf16.fromFloat(i + 1)); // f16 too: the same bytes as head
                            }
                        }
                    }
                });
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir, 128, 128, 64)) {
            assertNotEquals(checkpoint.info("head").file(), checkpoint.info("copy").file(), "in two shards");
            assertTrue(checkpoint.sameTensor("head", "copy"));
            assertTrue(checkpoint.sameTensor("copy", "head"));
            assertFalse(checkpoint.sameTensor("head", "last"), "the last element, in the last 64-byte window, differs");
            assertFalse(checkpoint.sameTensor("head", "reshaped"));
            assertFalse(checkpoint.sameTensor("head", "f16"));
            assertTrue(checkpoint.sameTensor("w", "w2"));
            assertFalse(checkpoint.sameTensor("w", "w3"), "same codes, another block scale");
            assertFalse(checkpoint.sameTensor("w", "unscaled"));
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
