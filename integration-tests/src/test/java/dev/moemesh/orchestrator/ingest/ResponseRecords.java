package dev.moemesh.orchestrator.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/** The contract's records as a test client reads and writes them. */
final class ResponseRecords {
    static final ObjectMapper JSON = new ObjectMapper();

    private ResponseRecords() {}

    /** A greedy request of {@code maxTokens} that ignores EOS. */
    static String request(String id, int maxTokens, boolean stream, int... prompt) {
        return "{\"id\":\"" + id + "\",\"prompt_token_ids\":" + Arrays.toString(prompt) + ",\"max_tokens\":" + maxTokens
                + ",\"ignore_eos\":true,\"stream\":" + stream + "}";
    }

    static List<JsonNode> events(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().map(r -> {
            try {
                return JSON.readTree(r.value());
            } catch (Exception e) {
                throw new AssertionError("not JSON on the responses topic: " + new String(r.value(), StandardCharsets.UTF_8));
            }
        }).toList();
    }

    static boolean terminal(JsonNode e) {
        return e.get("type").asText().equals("completed") || e.get("type").asText().equals("error");
    }

    static long terminals(List<ConsumerRecord<byte[], byte[]>> records, String id) {
        return events(records).stream().filter(e -> e.get("id").asText().equals(id) && terminal(e)).count();
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }
}
