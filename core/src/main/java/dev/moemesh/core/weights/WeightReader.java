package dev.moemesh.core.weights;

import dev.moemesh.core.safetensors.CheckpointException;
import dev.moemesh.core.safetensors.DType;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.safetensors.TensorInfo;
import dev.moemesh.core.tensor.Bf16Matrix;
import dev.moemesh.core.tensor.F32Matrix;
import dev.moemesh.core.tensor.Matrix;

import java.util.Arrays;

/** Reads named weights out of a checkpoint into kernel-ready matrices, checking each shape against the config. */
public final class WeightReader {
    private final SafetensorsCheckpoint checkpoint;

    public WeightReader(SafetensorsCheckpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    public SafetensorsCheckpoint checkpoint() {
        return checkpoint;
    }

    public boolean has(String name) {
        return checkpoint.contains(name);
    }

    /**
     * A (rows, cols) matrix. BF16 and FP8 (block-dequantised to bf16, as DeepSeek's reference does) stay
     * 2 bytes an element; F32 and F16 become fp32.
     */
    public Matrix matrix(String name, int rows, int cols) {
        TensorInfo info = checkShape(name, rows, cols);
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
