package dev.moemesh.core.safetensors;

import java.nio.file.Path;
import java.util.Arrays;

/** The element types this project reads from and writes to safetensors files, named as in their headers. */
public enum DType {
    BF16(2),
    F16(2),
    F32(4),
    F8_E4M3(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** Parses a header's dtype name; {@code file} and {@code tensor} only serve the error message. */
    public static DType fromHeader(String s, Path file, String tensor) {
        for (DType type : values()) {
            if (type.name().equals(s)) {
                return type;
            }
        }
        throw new CheckpointException(file + ": tensor '" + tensor + "' has dtype '" + s
                + "', which is not supported (supported: " + Arrays.toString(values()) + ")");
    }
}
