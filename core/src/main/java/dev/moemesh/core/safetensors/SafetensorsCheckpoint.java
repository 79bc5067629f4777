package dev.moemesh.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.numeric.Bf16;
import dev.moemesh.core.numeric.Fp8E4m3;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A Hugging Face safetensors checkpoint directory: one file, or shards named by {@code model.safetensors.index.json}.
 * Headers are read and checked when it opens; tensor data is memory-mapped when read, in windows of at most
 * 1 GiB, so files of any size work.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {
    private static final String INDEX = "model.safetensors.index.json";
    private static final long WINDOW = 1L << 30;
    private static final long MAX_HEADER = 100L << 20;

    private final Path directory;
    private final Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    private final Map<Path, FileChannel> channels = new HashMap<>();
    private final int fp8BlockRows;
    private final int fp8BlockCols;

    private SafetensorsCheckpoint(Path directory, int fp8BlockRows, int fp8BlockCols) {
        this.directory = directory;
        this.fp8BlockRows = fp8BlockRows;
        this.fp8BlockCols = fp8BlockCols;
    }

    public static SafetensorsCheckpoint open(Path dir) {
        return open(dir, 128, 128);
    }

    /** Opens {@code dir}; FP8 weights are dequantised with {@code weight_scale_inv} blocks of the given size. */
    public static SafetensorsCheckpoint open(Path dir, int fp8BlockRows, int fp8BlockCols) {
        if (!Files.isDirectory(dir)) throw new CheckpointException("checkpoint directory " + dir + " does not exist");
        SafetensorsCheckpoint c = new SafetensorsCheckpoint(dir, fp8BlockRows, fp8BlockCols);
        try {
            Path index = dir.resolve(INDEX);
            if (Files.exists(index)) {
                c.openIndexed(index);
            } else {
                List<Path> files = new ArrayList<>();
                try (var list = Files.list(dir)) {
                    list.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
                }
                if (files.isEmpty()) throw new CheckpointException("no *.safetensors files and no " + INDEX + " in " + dir);
                for (Path f : files) c.readHeader(f);
            }
            return c;
        } catch (IOException e) {
            c.close();
            throw new CheckpointException("cannot read checkpoint " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private void openIndexed(Path index) throws IOException {
        JsonNode map;
        try {
            map = new ObjectMapper().readTree(Files.readString(index)).get("weight_map");
        } catch (IOException e) {
            throw new CheckpointException(index + " is not valid JSON: " + e.getMessage(), e);
        }
        if (map == null || !map.isObject()) throw new CheckpointException(index + " has no weight_map object");
        Set<String> shards = new TreeSet<>();
        map.properties().forEach(e -> shards.add(e.getValue().asText()));
        for (String shard : shards) {
            Path file = directory.resolve(shard);
            if (!Files.exists(file)) {
                throw new CheckpointException(index + " names shard " + shard + ", which is missing from " + directory);
            }
            readHeader(file);
        }
        for (var e : map.properties()) {
            TensorInfo info = tensors.get(e.getKey());
            if (info == null || !info.file().getFileName().toString().equals(e.getValue().asText())) {
                throw new CheckpointException(index + " puts tensor " + e.getKey() + " in " + e.getValue().asText()
                        + ", but that file's header does not hold it");
            }
        }
    }

    private void readHeader(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        channels.put(file, ch);
        long size = ch.size();
        if (size < 8) throw new CheckpointException(file + " is " + size + " bytes: too short for a safetensors header (truncated?)");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(lenBuf, 0);
        long headerLen = lenBuf.getLong(0);
        if (headerLen <= 0 || headerLen > size - 8) {
            throw new CheckpointException(file + " is truncated or not safetensors: its header claims " + headerLen
                    + " bytes but the file has " + (size - 8) + " after the length field");
        }
        if (headerLen > MAX_HEADER) throw new CheckpointException(file + ": header of " + headerLen + " bytes is implausibly large");
        ByteBuffer header = ByteBuffer.allocate((int) headerLen);
        ch.read(header, 8);
        JsonNode json;
        try {
            json = new ObjectMapper().readTree(header.array());
        } catch (IOException e) {
            throw new CheckpointException(file + ": header is not valid JSON: " + e.getMessage(), e);
        }
        if (json == null || !json.isObject()) throw new CheckpointException(file + ": header is not a JSON object");
        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        for (var e : json.properties()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) continue;
            TensorInfo info = parseEntry(file, name, e.getValue(), dataStart, dataLen);
            TensorInfo previous = tensors.put(name, info);
            if (previous != null) {
                throw new CheckpointException("tensor " + name + " appears in both " + previous.file() + " and " + file);
            }
        }
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode entry, long dataStart, long dataLen) {
        JsonNode offsets = entry.get("data_offsets");
        JsonNode shapeNode = entry.get("shape");
        if (!entry.has("dtype") || offsets == null || offsets.size() != 2 || shapeNode == null || !shapeNode.isArray()) {
            throw new CheckpointException(file + ": tensor " + name + " lacks dtype, shape or data_offsets in the header");
        }
        DType dtype = DType.fromHeader(entry.get("dtype").asText(), file, name);
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
            if (shape[i] < 0) throw new CheckpointException(file + ": tensor " + name + " has a negative dimension");
            elements *= shape[i];
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new CheckpointException(file + ": tensor " + name + " has data_offsets [" + begin + ", " + end + "]");
        }
        if (end > dataLen) {
            throw new CheckpointException(file + " is truncated: tensor " + name + " needs bytes [" + begin + ", " + end
                    + ") of the data section, which holds only " + dataLen + " bytes (" + (end - dataLen) + " missing)");
        }
        if (elements * dtype.bytes() != end - begin) {
            throw new CheckpointException(file + ": tensor " + name + " of shape " + Arrays.toString(shape) + " and dtype "
                    + dtype + " needs " + elements * dtype.bytes() + " bytes, but its data_offsets give " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, file, dataStart + begin, end - begin);
    }

    public Path directory() {
        return directory;
    }

    public Set<String> tensorNames() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw new CheckpointException("tensor " + name + " is not in checkpoint " + directory);
        return info;
    }

    /** The tensor as fp32, whatever its dtype (FP8 without its block scales). */
    public float[] readFloats(String name) {
        TensorInfo info = info(name);
        float[] out = new float[arrayLength(info, 1)];
        int[] at = {0};
        forEachWindow(info, buf -> {
            switch (info.dtype()) {
                case F32 -> {
                    int n = buf.remaining() / 4;
                    buf.asFloatBuffer().get(out, at[0], n);
                    at[0] += n;
                }
                case BF16 -> {
                    while (buf.remaining() >= 2) out[at[0]++] = Bf16.toFloat(buf.getShort());
                }
                case F16 -> {
                    while (buf.remaining() >= 2) out[at[0]++] = Float.float16ToFloat(buf.getShort());
                }
                case F8_E4M3 -> {
                    while (buf.hasRemaining()) out[at[0]++] = Fp8E4m3.toFloat(buf.get());
                }
            }
        });
        return out;
    }

    /**
     * The tensor as packed bf16 pairs: int {@code i} holds element {@code 2i} in its low half and {@code 2i+1} in its
     * high half. BF16 is copied bit for bit; F32 and F16 are rounded to bf16; FP8 with a {@code <name>_scale_inv}
     * tensor is dequantised block by block ({@code fp8 · scale} in fp32, rounded to bf16, as DeepSeek's
     * {@code weight_dequant} yields).
     */
    public int[] readBf16Pairs(String name) {
        TensorInfo info = info(name);
        if (info.elementCount() % 2 != 0) {
            throw new CheckpointException(info.file() + ": tensor " + name + " has an odd element count; it cannot be packed in bf16 pairs");
        }
        int[] out = new int[arrayLength(info, 2)];
        if (info.dtype() == DType.BF16) {
            int[] at = {0};
            forEachWindow(info, buf -> {
                int n = buf.remaining() / 4;
                buf.asIntBuffer().get(out, at[0], n);
                at[0] += n;
            });
            return out;
        }
        float[] values = info.dtype() == DType.F8_E4M3 && contains(name + "_scale_inv") ? dequantise(info) : readFloats(name);
        for (int i = 0; i < out.length; i++) {
            out[i] = (Bf16.fromFloat(values[2 * i]) & 0xFFFF) | (Bf16.fromFloat(values[2 * i + 1]) << 16);
        }
        return out;
    }

    private float[] dequantise(TensorInfo weight) {
        TensorInfo scaleInfo = info(weight.name() + "_scale_inv");
        long[] s = weight.shape();
        if (s.length != 2) throw new CheckpointException(weight.file() + ": FP8 tensor " + weight.name() + " must be 2-D");
        long rows = s[0], cols = s[1];
        long blockRows = (rows + fp8BlockRows - 1) / fp8BlockRows, blockCols = (cols + fp8BlockCols - 1) / fp8BlockCols;
        if (scaleInfo.shape().length != 2 || scaleInfo.shape()[0] != blockRows || scaleInfo.shape()[1] != blockCols) {
            throw new CheckpointException(scaleInfo.file() + ": " + scaleInfo.name() + " has shape "
                    + Arrays.toString(scaleInfo.shape()) + " but " + weight.name() + " of shape " + Arrays.toString(s)
                    + " needs [" + blockRows + ", " + blockCols + "] for " + fp8BlockRows + "x" + fp8BlockCols + " blocks");
        }
        float[] w = readFloats(weight.name());
        float[] scale = readFloats(scaleInfo.name());
        for (int r = 0; r < rows; r++) {
            int base = (int) (r * cols);
            int scaleRow = (int) ((r / fp8BlockRows) * blockCols);
            for (int c = 0; c < cols; c++) w[base + c] *= scale[scaleRow + c / fp8BlockCols];
        }
        return w;
    }

    private static int arrayLength(TensorInfo info, int perSlot) {
        long n = info.elementCount() / perSlot;
        if (n > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(info.file() + ": tensor " + info.name() + " has " + info.elementCount()
                    + " elements, more than one Java array holds");
        }
        return (int) n;
    }

    /** Maps the tensor's bytes window by window (each a whole number of 4-byte words) and hands each over little-endian. */
    private void forEachWindow(TensorInfo info, java.util.function.Consumer<ByteBuffer> body) {
        FileChannel ch = channels.get(info.file());
        try {
            for (long done = 0; done < info.byteLength(); ) {
                long len = Math.min(WINDOW, info.byteLength() - done);
                body.accept(ch.map(FileChannel.MapMode.READ_ONLY, info.offset() + done, len).order(ByteOrder.LITTLE_ENDIAN));
                done += len;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + info.name() + " from " + info.file() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        for (FileChannel ch : channels.values()) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing a read-only channel loses nothing
            }
        }
        channels.clear();
    }
}
