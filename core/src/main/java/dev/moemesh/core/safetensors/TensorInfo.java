package dev.moemesh.core.safetensors;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Where one tensor's data lies: its type and shape, the shard file, and the absolute byte range
 * {@code [offset, offset + byteLength)} within that file.
 */
public record TensorInfo(String name, DType dtype, long[] shape, Path file, long offset, long byteLength) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The product of the shape; 1 for a scalar. */
    public long elementCount() {
        return Shapes.elementCount(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && file.equals(t.file)
                && offset == t.offset && byteLength == t.byteLength;
    }

    @Override
    public int hashCode() {
        return 31 * name.hashCode() + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " in " + file + " at " + offset;
    }
}
