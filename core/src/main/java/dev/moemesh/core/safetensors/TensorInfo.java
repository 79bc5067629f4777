package dev.moemesh.core.safetensors;

import java.nio.file.Path;

/** Where one tensor lies: its file, the absolute byte offset of its data, its length, dtype and shape. */
public record TensorInfo(String name, DType dtype, long[] shape, Path file, long offset, long byteLength) {

    public long elementCount() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }
}
