package dev.moemesh.core.safetensors;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A downloaded checkpoint's {@code model.safetensors.index.json} may say anything: opening the checkpoint gives
 * tensors read only from shards in the checkpoint's own directory, each where the index says it is, or a
 * {@link CheckpointException} naming the index; never a file outside the directory (a sibling shard with a tensor of
 * its own waits there for an index that names it), never another exception. Seeds:
 * src/test/resources/dev/moemesh/core/safetensors/CheckpointIndexFuzzTestInputs.
 */
class CheckpointIndexFuzzTest {
    private static final String HEADER = "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    private static Path checkpoint;

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"{\"weight_map\": {", "\"a.weight\"", "\"b.weight\"", "\"outside.weight\"",
            "\"model-00001-of-00002.safetensors\"", "\"model-00002-of-00002.safetensors\"",
            "\"../outside.safetensors\"", "\"/tmp\"", "\"..\"", "\".\"", "\"\\u0000\"", "\"metadata\"", "}}"})
    void aCheckpointReadsOnlyItsOwnShardsWhateverItsIndexSays(FuzzedDataProvider data) throws IOException {
        if (checkpoint == null) {
            Path root = Files.createTempDirectory("fuzzed-index");
            root.toFile().deleteOnExit();
            checkpoint = Files.createDirectories(root.resolve("model"));
            RawSafetensors.write(checkpoint.resolve("model-00001-of-00002.safetensors"), HEADER.formatted("a.weight"),
                    new byte[4]);
            RawSafetensors.write(checkpoint.resolve("model-00002-of-00002.safetensors"), HEADER.formatted("b.weight"),
                    new byte[4]);
            RawSafetensors.write(root.resolve("outside.safetensors"), HEADER.formatted("outside.weight"), new byte[4]);
        }
        Path index = checkpoint.resolve(CheckpointIndex.FILE_NAME);
        Files.writeString(index, data.consumeRemainingAsString());
        try (SafetensorsCheckpoint opened = SafetensorsCheckpoint.open(checkpoint)) {
            for (String name : opened.tensorNames()) {
                TensorInfo info = opened.info(name);
                assertEquals(checkpoint, info.file().getParent(), "tensor '" + name + "' read from " + info.file());
                assertEquals(1, opened.readFloats(name).length, name);
            }
        } catch (CheckpointException refused) {
            assertTrue(refused.getMessage().contains(index.toString()) || refused.getMessage().contains("tensor '"),
                    "a refusal that names neither the index nor a tensor: " + refused.getMessage());
        }
    }
}
