package dev.moemesh.core.model;

import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.safetensors.TensorInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.TreeSet;

/**
 * A short identity of a checkpoint, so services of the mesh can refuse to mix rows of different models.
 *
 * <p>SHA-256 over the bytes of {@code config.json}, then one line {@code name dtype [shape]} per tensor in name
 * order, as the safetensors headers state them; hex, first 16 characters. Tensor data is not read: two
 * checkpoints with the same config and layout but different weights share a fingerprint (retrained weights
 * are a new model directory, which operators name, not something this guards against).
 */
public final class ModelFingerprint {
    private static final int HEX_CHARS = 16;

    private ModelFingerprint() {}

    public static String of(Path modelDir) {
        MessageDigest sha = sha256();
        Path config = modelDir.resolve("config.json");
        try {
            sha.update(Files.readAllBytes(config));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("no config.json in " + modelDir + ": is this a Hugging Face model directory?");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + config + ": " + e.getMessage(), e);
        }
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(modelDir)) {
            for (String name : new TreeSet<>(ckpt.tensorNames())) {
                TensorInfo info = ckpt.info(name);
                String line = "\n" + name + " " + info.dtype() + " " + Arrays.toString(info.shape());
                sha.update(line.getBytes(StandardCharsets.UTF_8));
            }
        }
        return HexFormat.of().formatHex(sha.digest()).substring(0, HEX_CHARS);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256, which every Java SE platform must provide", e);
        }
    }
}
