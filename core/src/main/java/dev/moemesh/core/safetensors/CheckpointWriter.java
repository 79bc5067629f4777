package dev.moemesh.core.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/** Writes Hugging Face-layout safetensors shards and their index, one tensor in memory at a time. */
public final class CheckpointWriter {

    /** One tensor to write: its name, element type and shape. */
    public record TensorSpec(String name, DType dtype, long[] shape) {

        public TensorSpec {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            shape = shape.clone();
            for (long dim : shape) {
                if (dim < 0) {
                    throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension");
                }
            }
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long byteLength() {
            return Shapes.byteLength(shape, dtype);
        }
    }

    /** Fills {@code out} (little-endian, position 0, limit = the tensor's byte length) with one tensor's data. */
    @FunctionalInterface
    public interface TensorFill {
        void fill(TensorSpec spec, ByteBuffer out);
    }

    private static final String SINGLE_FILE = "model.safetensors";
    /** Heap buffers go to the file in slices so the JDK's temporary direct buffer stays small. */
    private static final int WRITE_SLICE_BYTES = 16 << 20;

    private CheckpointWriter() {
    }

    /**
     * Writes {@code specs} in order, starting a new shard when the next tensor would push the current
     * one past {@code maxShardBytes}; everything in one shard is written as {@code model.safetensors}
     * with no index, as Hugging Face does.
     */
    public static void write(Path dir, List<TensorSpec> specs, long maxShardBytes, TensorFill fill) {
        checkWritable(specs);
        List<List<TensorSpec>> shards = assignShards(specs, maxShardBytes);
        try {
            Files.createDirectories(dir);
            if (shards.size() == 1) {
                writeShard(dir.resolve(SINGLE_FILE), shards.get(0), fill);
                // a stale index from an earlier sharded write would make readers ignore the new file
                Files.deleteIfExists(dir.resolve(CheckpointIndex.FILE_NAME));
                return;
            }
            Map<String, String> weightMap = new LinkedHashMap<>();
            long totalSize = 0;
            for (int i = 0; i < shards.size(); i++) {
                String shardName = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                writeShard(dir.resolve(shardName), shards.get(i), fill);
                for (TensorSpec spec : shards.get(i)) {
                    weightMap.put(spec.name(), shardName);
                    totalSize += spec.byteLength();
                }
            }
            Files.writeString(dir.resolve(CheckpointIndex.FILE_NAME), CheckpointIndex.toJson(totalSize, weightMap),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": could not write checkpoint: " + e.getMessage(), e);
        }
    }

    private static void checkWritable(List<TensorSpec> specs) {
        Set<String> names = new HashSet<>();
        for (TensorSpec spec : specs) {
            if (!names.add(spec.name())) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' is listed twice");
            }
            if (spec.byteLength() > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' is " + spec.byteLength()
                        + " bytes; the writer fills one buffer per tensor and supports at most 2 GiB");
            }
        }
    }

    /** A shard always takes at least one tensor, so a tensor larger than the limit gets a shard of its own. */
    static List<List<TensorSpec>> assignShards(List<TensorSpec> specs, long maxShardBytes) {
        List<List<TensorSpec>> shards = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long currentBytes = 0;
        for (TensorSpec spec : specs) {
            if (!current.isEmpty() && currentBytes + spec.byteLength() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(spec);
            currentBytes += spec.byteLength();
        }
        shards.add(current);
        return shards;
    }

    private static void writeShard(Path file, List<TensorSpec> specs, TensorFill fill) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(channel, ByteBuffer.wrap(ShardHeader.encode(specs)));
            for (TensorSpec spec : specs) {
                ByteBuffer data = ByteBuffer.allocate((int) spec.byteLength()).order(ByteOrder.LITTLE_ENDIAN);
                fill.fill(spec, data);
                // the fill may have moved position or limit with relative puts; the whole tensor is written regardless
                data.clear();
                writeFully(channel, data);
            }
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            int n = Math.min(buffer.remaining(), WRITE_SLICE_BYTES);
            ByteBuffer slice = buffer.slice(buffer.position(), n);
            while (slice.hasRemaining()) {
                channel.write(slice);
            }
            buffer.position(buffer.position() + n);
        }
    }
}
