package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static dev.moemesh.router.LocalEngineReference.decode;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static dev.moemesh.router.LocalEngineReference.sampledTokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.router.RouterAndAttentionService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What an OpenAI client gets for {@code stop}, {@code n} and {@code stream_options.include_usage}: the router and an
 * attention service on the tiny checkpoint as processes; the expected tokens are the single-process engine's.
 */
class OpenAiOptionsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] PROMPT = {4, 2, 7, 1};
    private static final int MAX_TOKENS = 24;

    private static RouterAndAttentionService mesh;
    private static URI base;
    private static OpenAiDoorClient door;
    private static int[] greedy;
    private static String text;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-options");
        base = mesh.base();
        door = new OpenAiDoorClient(base);
        greedy = greedyTokens(PROMPT, MAX_TOKENS);
        text = decode(greedy);
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
    }

    /** A stop string from the middle of the greedy answer's text, and the answer it leaves. */
    private record Cut(String stop, String text, int[] tokenIds) {}

    private static Cut cutInTheMiddle() {
        assertTrue(text.length() >= 8, "the tiny checkpoint's greedy text is long enough to cut: '" + text + "'");
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        int tokens = 1;
        while (!decode(Arrays.copyOf(greedy, tokens)).contains(stop)) tokens++;
        return new Cut(stop, text.substring(0, text.indexOf(stop)), Arrays.copyOf(greedy, tokens));
    }

    @Test
    void aStopStringEndsTheCompletionAndIsLeftOut() throws Exception {
        Cut cut = cutInTheMiddle();
        JsonNode body = door.post("/v1/completions", completion(", \"stop\": [\"\\u0000never\", " + quoted(cut.stop())
                + "]", false));
        JsonNode choice = body.get("choices").get(0);
        assertEquals(cut.text(), choice.get("text").asText());
        assertEquals("stop", choice.get("finish_reason").asText());
        assertArrayEquals(cut.tokenIds(), ids(choice.get("token_ids")), "the tokens up to the one that completed it");
        assertEquals(cut.tokenIds().length, body.get("usage").get("completion_tokens").asInt());
        String metrics = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
                .send(HttpRequest.newBuilder(base.resolve("/q/metrics")).build(), HttpResponse.BodyHandlers.ofString())
                .body();
        assertTrue(metrics.lines().anyMatch(l -> l.startsWith("moemesh_door_generations_total{door=\"rest\",outcome=\"stop\"} ")),
                "the door counts the choice it ended at the stop string as stop, not as the cancel that follows");
    }

    @Test
    void aStreamHoldsBackWhatMayBecomeTheStopStringAndNeverSendsIt() throws Exception {
        Cut cut = cutInTheMiddle();
        List<JsonNode> chunks = door.stream("/v1/completions", completion(", \"stop\": " + quoted(cut.stop()), true));
        StringBuilder streamed = new StringBuilder();
        for (JsonNode c : chunks) streamed.append(c.get("choices").get(0).get("text").asText());
        // text once sent is never taken back: the whole stream equal to the cut text means no piece of the stop string went out
        assertEquals(cut.text(), streamed.toString());
        assertEquals("stop", chunks.get(chunks.size() - 1).get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void textHeldBackForAStopStringThatNeverCompletesIsSentAtTheEnd() throws Exception {
        String start = text.substring(text.length() - 2); // the text ends with the start of this stop string
        List<JsonNode> chunks = door.stream("/v1/completions",
                completion(", \"stop\": " + quoted(start + "\u0001"), true));
        StringBuilder streamed = new StringBuilder();
        for (JsonNode c : chunks) streamed.append(c.get("choices").get(0).get("text").asText());
        assertEquals(text, streamed.toString());
        JsonNode last = chunks.get(chunks.size() - 1).get("choices").get(0);
        assertEquals("length", last.get("finish_reason").asText());
        assertTrue(last.get("text").asText().endsWith(start), "held back until the end: " + last);
    }

    @Test
    void nChoicesAreEachTheirOwnGenerationSeededWithTheSeedPlusTheirIndex() throws Exception {
        JsonNode body = door.post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":" + Arrays.toString(PROMPT)
                + ",\"max_tokens\":8,\"temperature\":1.0,\"seed\":42,\"n\":3,\"ignore_eos\":true}");
        JsonNode choices = body.get("choices");
        assertEquals(3, choices.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, choices.get(i).get("index").asInt());
            int[] expected = sampledTokens(PROMPT, 8, 1.0f, 42 + i);
            assertArrayEquals(expected, ids(choices.get(i).get("token_ids")), "choice " + i);
            assertEquals(decode(expected), choices.get(i).get("text").asText());
        }
        assertFalse(Arrays.equals(ids(choices.get(0).get("token_ids")), ids(choices.get(1).get("token_ids"))),
                "two seeds, two samples");
        assertEquals(PROMPT.length, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(3 * 8, body.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void streamedChoicesCarryTheirIndexAndEndOneByOne() throws Exception {
        String request = "{\"model\":\"" + NAME + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":5,\"temperature\":0.8,\"seed\":7,\"n\":2,\"ignore_eos\":true,\"stream\":true}";
        Map<Integer, List<Integer>> tokens = new TreeMap<>();
        Map<Integer, String> finish = new TreeMap<>();
        Map<Integer, String> role = new TreeMap<>();
        for (JsonNode chunk : door.stream("/v1/chat/completions", request)) {
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            JsonNode choice = chunk.get("choices").get(0);
            int index = choice.get("index").asInt();
            if (choice.get("delta").has("role")) role.put(index, choice.get("delta").get("role").asText());
            for (JsonNode t : choice.get("token_ids")) tokens.computeIfAbsent(index, k -> new ArrayList<>()).add(t.asInt());
            if (!choice.get("finish_reason").isNull()) finish.put(index, choice.get("finish_reason").asText());
        }
        int[] prompt = dev.moemesh.router.LocalEngineReference.chatPrompt("Hi");
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(sampledTokens(prompt, 5, 0.8f, 7 + i),
                    tokens.get(i).stream().mapToInt(Integer::intValue).toArray(), "choice " + i);
            assertEquals("length", finish.get(i));
            assertEquals("assistant", role.get(i));
        }
    }

    @Test
    void includeUsageEndsTheStreamWithTheUsageAndNoChoices() throws Exception {
        List<JsonNode> chunks = door.stream("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":"
                + Arrays.toString(PROMPT) + ",\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true,\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true}}");
        JsonNode last = chunks.get(chunks.size() - 1);
        assertEquals(0, last.get("choices").size());
        assertEquals(PROMPT.length, last.get("usage").get("prompt_tokens").asInt());
        assertEquals(6, last.get("usage").get("completion_tokens").asInt());
        assertEquals(PROMPT.length + 6, last.get("usage").get("total_tokens").asInt());
        for (JsonNode c : chunks.subList(0, chunks.size() - 1)) {
            assertTrue(c.has("usage") && c.get("usage").isNull(), "the other chunks say usage null: " + c);
        }
        List<JsonNode> without = door.stream("/v1/completions", completion("", true));
        assertTrue(without.stream().noneMatch(c -> c.has("usage")), "no usage unless asked for");
    }

    @Test
    void badStopNOrStreamOptionsAre400NamingTheField() throws Exception {
        door.assertRefused("/v1/completions", completion(", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]", false), "stop");
        door.assertRefused("/v1/completions", completion(", \"stop\": [\"\"]", false), "stop");
        door.assertRefused("/v1/completions", completion(", \"stop\": 3", false), "stop");
        door.assertRefused("/v1/completions", completion(", \"n\": 0", false), "n");
        door.assertRefused("/v1/completions", completion(", \"n\": 17", false), "n");
        door.assertRefused("/v1/completions", completion(", \"stream_options\": {\"include_usage\": true}", false),
                "stream_options");
    }

    /** A greedy completion of {@link #PROMPT}, eos ignored, with more fields ({@code ", \"f\": v"}). */
    private static String completion(String more, boolean stream) {
        return "{\"model\":\"" + NAME + "\",\"prompt\":" + Arrays.toString(PROMPT) + ",\"max_tokens\":" + MAX_TOKENS
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + more + "}";
    }

    private static String quoted(String s) throws Exception {
        return JSON.writeValueAsString(s);
    }

    private static int[] ids(JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = array.get(i).asInt();
        return ids;
    }
}
