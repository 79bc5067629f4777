package dev.moemesh.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code model.safetensors.index.json} of a sharded checkpoint: which shard file holds each tensor. */
final class CheckpointIndex {

    static final String FILE_NAME = "model.safetensors.index.json";

    private CheckpointIndex() {
    }

    /** The index's {@code weight_map}, tensor name to shard file name, in file order. */
    static Map<String, String> readWeightMap(Path indexFile) {
        JsonNode root;
        try {
            root = HeaderJson.MAPPER.readTree(indexFile.toFile());
        } catch (IOException e) {
            throw new CheckpointException(indexFile + ": could not read the index as JSON: " + e.getMessage(), e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new CheckpointException(indexFile + ": has no \"weight_map\" object naming each tensor's shard");
        }
        Map<String, String> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (!entry.getValue().isTextual()) {
                throw new CheckpointException(indexFile + ": weight_map entry for tensor '" + entry.getKey()
                        + "' is not a shard file name");
            }
            String shard = entry.getValue().asText();
            if (!isPlainFileName(shard)) {
                throw new CheckpointException(indexFile + ": weight_map entry for tensor '" + entry.getKey()
                        + "' names shard '" + shard + "', which is not a file name beside the index (a shard is read"
                        + " only from the checkpoint's own directory)");
            }
            shards.put(entry.getKey(), shard);
        }
        return shards;
    }

    /** A name with no directory part, no parent reference and no character the file system refuses. */
    private static boolean isPlainFileName(String name) {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0
                || name.indexOf('\\') >= 0 || name.indexOf('\0') >= 0) {
            return false;
        }
        try {
            Path path = Path.of(name);
            return path.getNameCount() == 1 && !path.isAbsolute() && path.getFileName().toString().equals(name);
        } catch (InvalidPathException e) {
            return false;
        }
    }

    static String toJson(long totalSize, Map<String, String> weightMap) {
        var root = HeaderJson.MAPPER.createObjectNode();
        root.putObject("metadata").put("total_size", totalSize);
        var map = root.putObject("weight_map");
        weightMap.forEach(map::put);
        return root.toPrettyString() + "\n";
    }
}
