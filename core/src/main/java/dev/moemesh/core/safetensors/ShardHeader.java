package dev.moemesh.core.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of JSON describing each
 * tensor's dtype, shape and data offsets relative to byte 8 + N.
 */
final class ShardHeader {

    static final String METADATA_KEY = "__metadata__";
    private static final int LENGTH_PREFIX_BYTES = 8;
    /** The Rust safetensors crate refuses larger headers; anything bigger is a corrupt length. */
    private static final long MAX_HEADER_BYTES = 100_000_000;

    private ShardHeader() {
    }

    /** Reads and validates every tensor entry of {@code file}, in header order. */
    static List<TensorInfo> read(Path file, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < LENGTH_PREFIX_BYTES) {
            throw new CheckpointException(file + " is " + fileSize + " bytes, shorter than the 8-byte header"
                    + " length a safetensors file starts with: it is truncated or not a safetensors file");
        }
        long headerLength = readFully(channel, 0, LENGTH_PREFIX_BYTES).order(ByteOrder.LITTLE_ENDIAN).getLong();
        long available = fileSize - LENGTH_PREFIX_BYTES;
        if (Long.compareUnsigned(headerLength, available) > 0) {
            throw new CheckpointException(file + ": header length " + Long.toUnsignedString(headerLength)
                    + " bytes is larger than the " + available + " bytes that follow it: the file is truncated"
                    + " or not a safetensors file");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new CheckpointException(file + ": header length " + headerLength + " bytes exceeds the "
                    + MAX_HEADER_BYTES + "-byte limit of the safetensors format: the file is corrupt");
        }
        JsonNode root;
        try {
            root = HeaderJson.MAPPER.readTree(readFully(channel, LENGTH_PREFIX_BYTES, (int) headerLength).array());
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(file + ": header is not a JSON object");
        }
        long dataStart = LENGTH_PREFIX_BYTES + headerLength;
        List<TensorInfo> tensors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            if (!field.getKey().equals(METADATA_KEY)) {
                tensors.add(entry(file, field.getKey(), field.getValue(), dataStart, fileSize));
            }
        }
        return tensors;
    }

    private static TensorInfo entry(Path file, String name, JsonNode node, long dataStart, long fileSize) {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject() || !node.path("dtype").isTextual()) {
            throw new CheckpointException(where + " has no dtype in the header");
        }
        DType dtype = DType.fromHeader(node.get("dtype").asText(), file, name);
        long[] shape = naturals(node.path("shape"), -1, where + " has no valid shape (a list of non-negative integers)");
        long[] offsets = naturals(node.path("data_offsets"), 2,
                where + " has no valid data_offsets (two non-negative integers)");
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw new CheckpointException(where + " has data_offsets [" + begin + ", " + end + "] that end before they begin");
        }
        long absoluteEnd = dataStart + end;
        if (end > fileSize - dataStart) {
            throw new CheckpointException(file + " is truncated: tensor '" + name + "' needs bytes ["
                    + (dataStart + begin) + ", " + absoluteEnd + ") but the file has only " + fileSize
                    + " bytes (" + (absoluteEnd - fileSize) + " bytes missing)");
        }
        long expected;
        try {
            expected = Shapes.byteLength(shape, dtype);
        } catch (ArithmeticException e) {
            throw new CheckpointException(where + " has shape " + Arrays.toString(shape) + " whose size overflows a long", e);
        }
        if (expected != end - begin) {
            throw new CheckpointException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + expected + " bytes but data_offsets give " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, file, dataStart + begin, end - begin);
    }

    /** A JSON array of non-negative integers of the given length (-1: any length); anything else throws {@code error}. */
    private static long[] naturals(JsonNode node, int length, String error) {
        if (!node.isArray() || (length >= 0 && node.size() != length)) {
            throw new CheckpointException(error);
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new CheckpointException(error);
            }
            values[i] = v.longValue();
        }
        return values;
    }

    /**
     * The length prefix and JSON for tensors stored back to back in the given order, padded with
     * spaces so the data starts 8-byte aligned as the Rust safetensors crate writes it.
     */
    static byte[] encode(List<CheckpointWriter.TensorSpec> specs) {
        ObjectNode root = HeaderJson.MAPPER.createObjectNode();
        root.putObject(METADATA_KEY).put("format", "pt");
        long offset = 0;
        for (CheckpointWriter.TensorSpec spec : specs) {
            ObjectNode entry = root.putObject(spec.name());
            entry.put("dtype", spec.dtype().name());
            ArrayNode shape = entry.putArray("shape");
            for (long dim : spec.shape()) {
                shape.add(dim);
            }
            long end = offset + spec.byteLength();
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = HeaderJson.MAPPER.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a tree of strings and numbers always serialises", e);
        }
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(LENGTH_PREFIX_BYTES + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.array();
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new IOException("unexpected end of file at byte " + (position + buffer.position()));
            }
        }
        return buffer.flip();
    }
}
