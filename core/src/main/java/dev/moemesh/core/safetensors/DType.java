package dev.moemesh.core.safetensors;

import java.nio.file.Path;
import java.util.Arrays;

/** The safetensors element types this project reads and writes. */
public enum DType {
    BF16(2), F16(2), F32(4), F8_E4M3(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** The dtype a safetensors header names, or an error naming the file, the tensor and what is supported. */
    public static DType fromHeader(String name, Path file, String tensor) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        throw new CheckpointException(file + ": tensor " + tensor + " has dtype " + name + ", which is not supported ("
                + Arrays.toString(values()) + ")");
    }
}
