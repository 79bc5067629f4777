package dev.moemesh.core.safetensors;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

class CheckpointErrorsTest {

    @TempDir
    Path dir;

    private static final List<CheckpointWriter.TensorSpec> TWO_TENSORS = List.of(
            new CheckpointWriter.TensorSpec("first.weight", DType.F32, new long[]{4}),
            new CheckpointWriter.TensorSpec("last.weight", DType.BF16, new long[]{2, 4}));

    /** Leaves the zeroed buffer as it is: these tests only care about headers. */
    private static void zeros(CheckpointWriter.TensorSpec spec, ByteBuffer out) {
    }

    /** Asserts opening (or reading via {@code action}) fails with a message holding every one of {@code parts}. */
    private static void assertFailsNaming(Executable action, String... parts) {
        CheckpointException e = assertThrows(CheckpointException.class, action);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message lacks '" + part + "': " + e.getMessage());
        }
    }

    private Path oneTensorFile(String entry, byte[] data) throws IOException {
        return RawSafetensors.write(dir.resolve("model.safetensors"), "{\"w.weight\":" + entry + "}", data);
    }

    @Test
    void truncatedFileNamesFileTensorAndMissingBytes() throws IOException {
        CheckpointWriter.write(dir, TWO_TENSORS, Long.MAX_VALUE, CheckpointErrorsTest::zeros);
        Path file = dir.resolve("model.safetensors");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 3);
        }
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'last.weight'", "truncated",
                "3 bytes missing");
    }

    @Test
    void dataOffsetsPastTheEndNameTheByteRangeNeeded() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}", RawSafetensors.floats(1, 2));
        long dataStart = Files.size(file) - 8;
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'", "truncated",
                "needs bytes [" + (dataStart + 8) + ", " + (dataStart + 16) + ")", "8 bytes missing");
    }

    @Test
    void shapeDisagreeingWithByteLengthSaysBoth() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,10]}", new byte[10]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'",
                "shape [2, 3] of BF16 needs 12 bytes but data_offsets give 10");
    }

    @Test
    void unknownDtypeNamesItAndTheSupportedOnes() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}", new byte[8]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'", "'I64'",
                "BF16, F16, F32, F8_E4M3");
    }

    @Test
    void offsetsEndingBeforeTheyBeginAreRejected() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", new byte[8]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'", "[4, 0]");
    }

    @Test
    void malformedEntriesNameTheTensor() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}", new byte[4]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'", "shape");
        oneTensorFile("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}", new byte[4]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "'w.weight'", "data_offsets");
    }

    @Test
    void headerThatIsNotJsonNamesTheFile() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("model.safetensors"), "{\"w\": {\"dtype\": ", new byte[4]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "not valid JSON");
    }

    @Test
    void fileShorterThanTheLengthPrefixNamesTheFile() throws IOException {
        Path file = Files.write(dir.resolve("model.safetensors"), new byte[5]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "5 bytes", "shorter than the 8-byte");
    }

    @Test
    void headerLengthPastTheEndOfFileSaysTruncated() throws IOException {
        Path file = Files.write(dir.resolve("model.safetensors"), new byte[]{(byte) 0xE8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'});
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), file.toString(), "header length 1000",
                "2 bytes that follow", "truncated");
    }

    @Test
    void missingTensorNamesTensorAndDirectory() {
        CheckpointWriter.write(dir, TWO_TENSORS, Long.MAX_VALUE, CheckpointErrorsTest::zeros);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertFailsNaming(() -> checkpoint.info("model.layers.0.mlp.gate.weight"),
                    "'model.layers.0.mlp.gate.weight'", dir.toString());
            assertFailsNaming(() -> checkpoint.readFloats("absent"), "'absent'", dir.toString());
        }
    }

    @Test
    void indexNamingAMissingShardNamesIt() throws IOException {
        CheckpointWriter.write(dir, TWO_TENSORS, 16, CheckpointErrorsTest::zeros);
        Path missing = dir.resolve("model-00002-of-00002.safetensors");
        Files.delete(missing);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), missing.toString(), "'last.weight'",
                "model.safetensors.index.json", "does not exist");
    }

    @Test
    void indexNamingATensorTheShardLacksNamesBoth() throws IOException {
        CheckpointWriter.write(dir, TWO_TENSORS, 16, CheckpointErrorsTest::zeros);
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, Files.readString(index).replace("\"weight_map\" : {",
                "\"weight_map\" : {\n    \"ghost.weight\" : \"model-00001-of-00002.safetensors\","));
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), "'ghost.weight'", "model-00001-of-00002.safetensors",
                "does not contain it");
    }

    @Test
    void indexNamingAShardOutsideTheCheckpointIsRefusedBeforeAnyFileIsOpened() throws IOException {
        // a checkpoint is downloaded from anywhere: its index may not make the loader open files elsewhere
        String header = "{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Path inside = Files.createDirectories(dir.resolve("model"));
        Path outside = RawSafetensors.write(dir.resolve("elsewhere.safetensors"), header, new byte[4]);
        for (String shard : new String[] {"../elsewhere.safetensors", outside.toString(), "sub/../../elsewhere.safetensors"}) {
            Files.writeString(inside.resolve("model.safetensors.index.json"),
                    "{\"weight_map\": {\"w.weight\": \"" + shard + "\"}}");
            assertFailsNaming(() -> SafetensorsCheckpoint.open(inside), "model.safetensors.index.json", "'w.weight'",
                    "'" + shard + "'", "not a file name beside the index");
        }
    }

    @Test
    void tensorInTwoShardsNamesBothFiles() throws IOException {
        String header = "{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Path a = RawSafetensors.write(dir.resolve("a.safetensors"), header, new byte[4]);
        Path b = RawSafetensors.write(dir.resolve("b.safetensors"), header, new byte[4]);
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), "'w.weight'", a.toString(), b.toString());
    }

    @Test
    void directoryWithoutSafetensorsNamesIt() {
        assertFailsNaming(() -> SafetensorsCheckpoint.open(dir), dir.toString(), "no *.safetensors");
    }

    @Test
    void oddElementCountCannotBePaired() throws IOException {
        Path file = oneTensorFile("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}", RawSafetensors.floats(1, 2, 3));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertFailsNaming(() -> checkpoint.readBf16Pairs("w.weight"), file.toString(), "'w.weight'", "odd");
        }
    }

    @Test
    void blockScaledFp8MustBeTwoDimensional() throws IOException {
        RawSafetensors.write(dir.resolve("model.safetensors"),
                "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2,2],\"data_offsets\":[0,8]},"
                        + "\"w_scale_inv\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}", new byte[12]);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertFailsNaming(() -> checkpoint.readBf16Pairs("w"), "'w'", "2-D", "model.safetensors");
        }
    }
}
