package dev.moemesh.core.weights;

import dev.moemesh.core.safetensors.CheckpointException;
import dev.moemesh.core.safetensors.DType;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.safetensors.TensorInfo;
import dev.moemesh.core.tensor.Bf16Matrix;
import dev.moemesh.core.tensor.F32Matrix;
import dev.moemesh.core.tensor.Fp8Matrix;
import dev.moemesh.core.tensor.Matrix;

import java.util.Arrays;

/** Reads named weights out of a checkpoint into kernel-ready matrices, checking each shape against the config. */
public final class WeightReader {
    /**
     * How block-scaled FP8 weights are held: rounded to bf16 at load (the default: DeepSeek's reference bf16 path,
     * and on this project's CPUs the faster one at small batches, docs/benchmarks.md), or kept FP8 at one byte a
     * weight and dequantised in fp32 inside the kernel (half the memory).
     */
    public enum Fp8Weights {
        FP8, BF16;

        /** {@code -Dmoemesh.fp8-weights=bf16|fp8}. */
        public static Fp8Weights configured() {
            String v = System.getProperty("moemesh.fp8-weights", "bf16");
            return switch (v) {
                case "fp8" -> FP8;
                case "bf16" -> BF16;
                default -> throw new IllegalArgumentException("moemesh.fp8-weights is '" + v + "': use fp8 or bf16");
            };
        }
    }

    private final SafetensorsCheckpoint checkpoint;
    private final Fp8Weights fp8;

    public WeightReader(SafetensorsCheckpoint checkpoint) {
        this(checkpoint, Fp8Weights.configured());
    }

    public WeightReader(SafetensorsCheckpoint checkpoint, Fp8Weights fp8) {
        this.checkpoint = checkpoint;
        this.fp8 = fp8;
    }

    public SafetensorsCheckpoint checkpoint() {
        return checkpoint;
    }

    public boolean has(String name) {
        return checkpoint.contains(name);
    }

    /**
     * A (rows, cols) matrix. BF16 stays 2 bytes an element; block-scaled FP8 stays 1 byte (dequantised to fp32 in
     * the kernel) or, with {@link Fp8Weights#BF16}, is block-dequantised to bf16 as DeepSeek's reference bf16 path
     * does; F32 and F16 become fp32.
     */
    public Matrix matrix(String name, int rows, int cols) {
        TensorInfo info = checkShape(name, rows, cols);
        if (fp8 == Fp8Weights.FP8 && checkpoint.isBlockScaledFp8(name) && checkpoint.fp8BlockRows() % 8 == 0) {
            return Fp8Matrix.of(name, rows, cols, checkpoint.readFp8Codes(name), checkpoint.readFp8Scales(name),
                    checkpoint.fp8BlockRows(), checkpoint.fp8BlockCols());
        }
        boolean bf16 = (info.dtype() == DType.BF16 || info.dtype() == DType.F8_E4M3) && cols % 2 == 0;
        return bf16 ? new Bf16Matrix(rows, cols, checkpoint.readBf16Pairs(name))
                : new F32Matrix(rows, cols, checkpoint.readFloats(name));
    }

    /** A (rows, cols) matrix in fp32, whatever the stored dtype (small weights that the gate reads in full precision). */
    public F32Matrix f32Matrix(String name, int rows, int cols) {
        checkShape(name, rows, cols);
        return new F32Matrix(rows, cols, checkpoint.readFloats(name));
    }

    public float[] vector(String name, int length) {
        TensorInfo info = checkpoint.info(name);
        if (info.shape().length != 1 || info.shape()[0] != length) {
            throw new CheckpointException(info.file() + ": tensor " + name + " has shape " + Arrays.toString(info.shape())
                    + " but the config needs [" + length + "]");
        }
        return checkpoint.readFloats(name);
    }

    private TensorInfo checkShape(String name, int rows, int cols) {
        TensorInfo info = checkpoint.info(name);
        long[] shape = info.shape();
        if (shape.length != 2 || shape[0] != rows || shape[1] != cols) {
            throw new CheckpointException(info.file() + ": tensor " + name + " has shape " + Arrays.toString(shape)
                    + " but the config needs [" + rows + ", " + cols + "]");
        }
        return info;
    }
}
