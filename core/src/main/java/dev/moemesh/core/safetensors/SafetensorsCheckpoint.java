package dev.moemesh.core.safetensors;

import dev.moemesh.core.numeric.Bf16;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** A Hugging Face safetensors checkpoint directory, memory-mapped and read tensor by tensor. */
public final class SafetensorsCheckpoint implements AutoCloseable {

    /** DeepSeek-V3's {@code weight_block_size}: one scale per 128x128 block of an FP8 weight. */
    private static final int DEFAULT_FP8_BLOCK = 128;
    private static final String SCALE_SUFFIX = "_scale_inv";
    /** The VM refuses arrays a few elements short of Integer.MAX_VALUE. */
    private static final long MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

    private final Path directory;
    private final int fp8BlockRows;
    private final int fp8BlockCols;
    private final long windowBytes;
    private final Map<String, TensorInfo> tensors; // sorted by name
    private final Map<Path, FileChannel> channels;

    private SafetensorsCheckpoint(Path directory, int fp8BlockRows, int fp8BlockCols, long windowBytes,
                                  Map<String, TensorInfo> tensors, Map<Path, FileChannel> channels) {
        this.directory = directory;
        this.fp8BlockRows = fp8BlockRows;
        this.fp8BlockCols = fp8BlockCols;
        this.windowBytes = windowBytes;
        this.tensors = tensors;
        this.channels = channels;
    }

    public static SafetensorsCheckpoint open(Path dir) {
        return open(dir, DEFAULT_FP8_BLOCK, DEFAULT_FP8_BLOCK);
    }

    public static SafetensorsCheckpoint open(Path dir, int fp8BlockRows, int fp8BlockCols) {
        return open(dir, fp8BlockRows, fp8BlockCols, MappedTensor.DEFAULT_WINDOW_BYTES);
    }

    /** Tests pass a small {@code windowBytes} to cross mapping windows without gigabyte files. */
    static SafetensorsCheckpoint open(Path dir, int fp8BlockRows, int fp8BlockCols, long windowBytes) {
        if (fp8BlockRows <= 0 || fp8BlockCols <= 0) {
            throw new IllegalArgumentException("FP8 block size must be positive, got " + fp8BlockRows + "x" + fp8BlockCols);
        }
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + " is not a directory; point at a Hugging Face checkpoint directory");
        }
        Path indexFile = dir.resolve(CheckpointIndex.FILE_NAME);
        Map<String, String> weightMap = Files.exists(indexFile) ? CheckpointIndex.readWeightMap(indexFile) : null;
        List<Path> shards = weightMap != null ? shardsNamedIn(indexFile, weightMap) : shardsIn(dir);
        Map<Path, FileChannel> channels = new LinkedHashMap<>();
        try {
            Map<String, TensorInfo> tensors = new TreeMap<>();
            for (Path shard : shards) {
                FileChannel channel = FileChannel.open(shard, StandardOpenOption.READ);
                channels.put(shard, channel);
                for (TensorInfo info : ShardHeader.read(shard, channel)) {
                    TensorInfo earlier = tensors.putIfAbsent(info.name(), info);
                    if (earlier != null) {
                        throw new CheckpointException("tensor '" + info.name() + "' appears in both " + earlier.file()
                                + " and " + shard + "; a checkpoint must hold each tensor once");
                    }
                }
            }
            if (weightMap != null) {
                checkIndexAgrees(indexFile, weightMap, tensors);
            }
            return new SafetensorsCheckpoint(dir, fp8BlockRows, fp8BlockCols, windowBytes,
                    Collections.unmodifiableMap(tensors), channels);
        } catch (IOException | RuntimeException e) {
            closeAll(channels.values(), e);
            if (e instanceof IOException io) {
                throw new CheckpointException(dir + ": could not read shard: " + io.getMessage(), io);
            }
            throw (RuntimeException) e;
        }
    }

    private static List<Path> shardsNamedIn(Path indexFile, Map<String, String> weightMap) {
        List<Path> shards = new ArrayList<>();
        for (Map.Entry<String, String> entry : new TreeMap<>(weightMap).entrySet()) {
            Path shard = indexFile.resolveSibling(entry.getValue());
            if (!shards.contains(shard)) {
                if (!Files.isRegularFile(shard)) {
                    throw new CheckpointException(indexFile + " names shard " + shard + " (for tensor '" + entry.getKey()
                            + "' and maybe others) but that file does not exist; the download is incomplete");
                }
                shards.add(shard);
            }
        }
        return shards;
    }

    private static List<Path> shardsIn(Path dir) {
        Set<Path> shards = new TreeSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.safetensors")) {
            files.forEach(shards::add);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": could not list the directory: " + e.getMessage(), e);
        }
        if (shards.isEmpty()) {
            throw new CheckpointException(dir + " holds no *.safetensors files and no " + CheckpointIndex.FILE_NAME
                    + "; point at a Hugging Face checkpoint directory");
        }
        return new ArrayList<>(shards);
    }

    private static void checkIndexAgrees(Path indexFile, Map<String, String> weightMap, Map<String, TensorInfo> tensors) {
        for (Map.Entry<String, String> entry : weightMap.entrySet()) {
            Path shard = indexFile.resolveSibling(entry.getValue());
            TensorInfo info = tensors.get(entry.getKey());
            if (info == null || !info.file().equals(shard)) {
                throw new CheckpointException(indexFile + " says tensor '" + entry.getKey() + "' is in " + shard
                        + " but that shard does not contain it" + (info == null ? "" : " (it is in " + info.file() + ")"));
            }
        }
    }

    public Path directory() {
        return directory;
    }

    public Set<String> tensorNames() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new CheckpointException("tensor '" + name + "' is not in checkpoint " + directory
                    + " (" + tensors.size() + " tensors); check the model config matches the checkpoint");
        }
        return info;
    }

    /** Any dtype as float; FP8 values are decoded but their block scales are not applied. */
    public float[] readFloats(String name) {
        TensorInfo info = info(name);
        float[] out = new float[arrayLength(info, info.elementCount())];
        reader(info).forEachFloatChunk((values, count, first) -> System.arraycopy(values, 0, out, (int) first, count));
        return out;
    }

    /**
     * The tensor as bfloat16 pairs: int i holds element 2i in its low 16 bits and element 2i+1 in its
     * high 16 bits. BF16 is copied bit for bit; other types are rounded to nearest even, and FP8
     * weights with a {@code <name>_scale_inv} tensor are dequantised block by block first, as
     * DeepSeek-V3's {@code weight_dequant} does.
     */
    public int[] readBf16Pairs(String name) {
        TensorInfo info = info(name);
        long count = info.elementCount();
        if (count % 2 != 0) {
            throw new CheckpointException(info.file() + ": tensor '" + name + "' has " + count
                    + " elements, an odd number, so it cannot be read as bfloat16 pairs");
        }
        int[] out = new int[arrayLength(info, count / 2)];
        if (info.dtype() == DType.BF16) {
            reader(info).copyInts(out);
        } else if (info.dtype() == DType.F8_E4M3 && contains(name + SCALE_SUFFIX)) {
            Fp8BlockScales scales = Fp8BlockScales.of(info, info(name + SCALE_SUFFIX), fp8BlockRows, fp8BlockCols,
                    readFloats(name + SCALE_SUFFIX));
            reader(info).forEachFloatChunk((values, n, first) -> {
                scales.apply(values, n, first);
                pack(values, n, first, out);
            });
        } else {
            reader(info).forEachFloatChunk((values, n, first) -> pack(values, n, first, out));
        }
        return out;
    }

    /**
     * Whether tensors {@code a} and {@code b} hold the same values: the same dtype, shape and bytes, and the same
     * block scales where they have them. Compared in the mapped files, so a large tensor stored twice (DeepSeek-V3's
     * MTP head beside {@code lm_head}) is recognised without reading a second copy onto the heap.
     */
    public boolean sameTensor(String a, String b) {
        TensorInfo x = info(a), y = info(b);
        if (x.dtype() != y.dtype() || !Arrays.equals(x.shape(), y.shape())) return false;
        boolean scaled = contains(a + SCALE_SUFFIX);
        if (scaled != contains(b + SCALE_SUFFIX) || scaled && !sameTensor(a + SCALE_SUFFIX, b + SCALE_SUFFIX)) {
            return false;
        }
        return reader(x).sameBytes(reader(y));
    }

    /** Whether {@code name} is an FP8 E4M3 weight with block scales ({@code <name>_scale_inv}). */
    public boolean isBlockScaledFp8(String name) {
        return info(name).dtype() == DType.F8_E4M3 && contains(name + SCALE_SUFFIX);
    }

    /** The E4M3 codes of a block-scaled FP8 weight, one byte each, row-major as stored. */
    public byte[] readFp8Codes(String name) {
        TensorInfo info = info(name);
        if (info.dtype() != DType.F8_E4M3) {
            throw new CheckpointException(info.file() + ": tensor '" + name + "' is " + info.dtype() + ", not F8_E4M3");
        }
        byte[] out = new byte[arrayLength(info, info.elementCount())];
        reader(info).copyBytes(out);
        return out;
    }

    /** The (ceil(rows / blockRows), ceil(cols / blockCols)) scales of a block-scaled FP8 weight, checked against its shape. */
    public float[] readFp8Scales(String name) {
        float[] scales = readFloats(name + SCALE_SUFFIX);
        Fp8BlockScales.of(info(name), info(name + SCALE_SUFFIX), fp8BlockRows, fp8BlockCols, scales);
        return scales;
    }

    public int fp8BlockRows() {
        return fp8BlockRows;
    }

    public int fp8BlockCols() {
        return fp8BlockCols;
    }

    /** Chunks start at even elements and hold an even count, because windows and chunks are even-sized. */
    private static void pack(float[] values, int count, long first, int[] out) {
        int pair = (int) (first >>> 1);
        for (int j = 0; j < count; j += 2, pair++) {
            out[pair] = (Bf16.fromFloat(values[j]) & 0xFFFF) | (Bf16.fromFloat(values[j + 1]) << 16);
        }
    }

    private static int arrayLength(TensorInfo info, long length) {
        if (length > MAX_ARRAY_LENGTH) {
            throw new CheckpointException(info.file() + ": tensor '" + info.name() + "' of shape "
                    + Arrays.toString(info.shape()) + " has more elements than a Java array can hold");
        }
        return (int) length;
    }

    private MappedTensor reader(TensorInfo info) {
        return new MappedTensor(channels.get(info.file()), info, windowBytes);
    }

    @Override
    public void close() {
        CheckpointException failure = new CheckpointException("could not close checkpoint " + directory);
        closeAll(channels.values(), failure);
        if (failure.getSuppressed().length > 0) {
            throw failure;
        }
    }

    private static void closeAll(Iterable<FileChannel> channels, Exception failure) {
        for (FileChannel channel : channels) {
            try {
                channel.close();
            } catch (IOException e) {
                failure.addSuppressed(e);
            }
        }
    }
}
