package dev.moemesh.core.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes tensors as Hugging Face does: safetensors shards {@code model-00001-of-0000N.safetensors} with a
 * {@code model.safetensors.index.json}, or one {@code model.safetensors} when everything fits one shard.
 * Each tensor is filled and written on its own, so a checkpoint never has to fit in memory.
 */
public final class CheckpointWriter {

    /** A tensor to write. */
    public record TensorSpec(String name, DType dtype, long[] shape) {
        public long byteLength() {
            long n = dtype.bytes();
            for (long d : shape) n *= d;
            return n;
        }
    }

    /** Fills a tensor's bytes: {@code out} is little-endian, at position 0, with exactly the tensor's byte length left. */
    @FunctionalInterface
    public interface TensorFill {
        void fill(TensorSpec spec, ByteBuffer out);
    }

    private CheckpointWriter() {}

    public static void write(Path dir, List<TensorSpec> specs, long maxShardBytes, TensorFill fill) {
        List<List<TensorSpec>> shards = new ArrayList<>();
        long current = Long.MAX_VALUE;
        for (TensorSpec s : specs) {
            if (s.byteLength() > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tensor " + s.name() + " is over 2 GiB; the writer does not split tensors");
            }
            if (current + s.byteLength() > maxShardBytes || shards.isEmpty()) {
                shards.add(new ArrayList<>());
                current = 0;
            }
            shards.get(shards.size() - 1).add(s);
            current += s.byteLength();
        }
        try {
            Files.createDirectories(dir);
            ObjectMapper json = new ObjectMapper();
            ObjectNode index = json.createObjectNode();
            ObjectNode weightMap = json.createObjectNode();
            long total = 0;
            for (int i = 0; i < shards.size(); i++) {
                String file = shards.size() == 1 ? "model.safetensors"
                        : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                for (TensorSpec s : shards.get(i)) {
                    weightMap.put(s.name(), file);
                    total += s.byteLength();
                }
                writeShard(dir.resolve(file), shards.get(i), fill, json);
            }
            if (shards.size() > 1) {
                index.putObject("metadata").put("total_size", total);
                index.set("weight_map", weightMap);
                Files.writeString(dir.resolve("model.safetensors.index.json"),
                        json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void writeShard(Path file, List<TensorSpec> specs, TensorFill fill, ObjectMapper json) throws IOException {
        ObjectNode header = json.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (TensorSpec s : specs) {
            ObjectNode entry = header.putObject(s.name());
            entry.put("dtype", s.dtype().name());
            var shape = entry.putArray("shape");
            for (long d : s.shape()) shape.add(d);
            entry.putArray("data_offsets").add(offset).add(offset + s.byteLength());
            offset += s.byteLength();
        }
        byte[] text = json.writeValueAsBytes(header);
        int padded = (text.length + 7) / 8 * 8; // data starts 8-aligned, as the safetensors crate writes it
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(text);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            while (head.hasRemaining()) ch.write(head);
            for (TensorSpec s : specs) {
                ByteBuffer data = ByteBuffer.allocate((int) s.byteLength()).order(ByteOrder.LITTLE_ENDIAN);
                fill.fill(s, data);
                data.rewind();
                while (data.hasRemaining()) ch.write(data);
            }
        }
    }
}
