package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static dev.moemesh.router.LocalEngineReference.chatPrompt;
import static dev.moemesh.router.LocalEngineReference.decode;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.router.RouterAndAttentionService;
import dev.moemesh.testing.Prometheus;
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

/**
 * The REST door end to end: the router and an attention service on the tiny checkpoint as processes, and requests
 * from {@link HttpClient}; greedy tokens through each endpoint equal the {@link BatchingEngine}'s.
 */
class OpenAiRoutesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] PROMPT = {4, 2, 7, 1};

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static RouterAndAttentionService mesh;
    private static URI base;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-rest");
        base = mesh.base();
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
    }

    @Test
    void modelsListsTheCheckpointByItsDirectoryName() throws Exception {
        JsonNode body = JSON.readTree(send(get("/v1/models").build()).body());
        assertEquals("list", body.get("object").asText());
        assertEquals(NAME, body.get("data").get(0).get("id").asText());
        assertEquals("model", body.get("data").get(0).get("object").asText());
    }

    @Test
    void healthAndMetricsNeedNoApiKey() throws Exception {
        assertEquals(200, send(HttpRequest.newBuilder(base.resolve("/q/health/live")).build()).statusCode());
        assertEquals(200, send(HttpRequest.newBuilder(base.resolve("/q/metrics")).build()).statusCode());
    }

    @Test
    void aCompletionOfTokenIdsGivesTheLocalEnginesGreedyTokens() throws Exception {
        HttpResponse<String> r = send(post("/v1/completions", completion(PROMPT, 8, false)));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals("text_completion", body.get("object").asText());
        JsonNode choice = body.get("choices").get(0);
        assertArrayEquals(greedyTokens(PROMPT, 8), ids(choice.get("token_ids")));
        assertEquals("length", choice.get("finish_reason").asText());
        assertEquals(decode(greedyTokens(PROMPT, 8)), choice.get("text").asText());
        assertEquals(PROMPT.length, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(8, body.get("usage").get("completion_tokens").asInt());
        assertEquals(PROMPT.length + 8, body.get("usage").get("total_tokens").asInt());
    }

    @Test
    void eachCompletionIsCountedWithItsOutcomeAndItsTimeToFirstToken() throws Exception {
        String ended = "moemesh_door_generations_total{door=\"rest\",outcome=\"length\"}";
        String firstTokens = "moemesh_door_time_to_first_token_seconds_count{door=\"rest\"}";
        double endedBefore = sample(ended);
        double firstTokensBefore = sample(firstTokens);
        assertEquals(200, send(post("/v1/completions", completion(PROMPT, 3, false))).statusCode());
        assertEquals(endedBefore + 1, sample(ended));
        assertEquals(firstTokensBefore + 1, sample(firstTokens));
    }

    /** One sample of /q/metrics (name and labels as Prometheus prints them); 0 while it does not exist yet. */
    private double sample(String name) throws Exception {
        return Prometheus.find(send(HttpRequest.newBuilder(base.resolve("/q/metrics")).build()).body(), name).orElse(0);
    }

    @Test
    void aStreamedCompletionSendsEachTokenAsAnEventThenDone() throws Exception {
        HttpResponse<java.util.stream.Stream<String>> r = http.send(post("/v1/completions",
                completion(PROMPT, 8, true)), HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertEquals("text/event-stream", r.headers().firstValue("content-type").orElseThrow());
        List<String> data = r.body().filter(l -> !l.isEmpty()).toList();
        assertTrue(data.stream().allMatch(l -> l.startsWith("data: ")), data.toString());
        assertEquals("data: [DONE]", data.get(data.size() - 1));
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String line : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(line.substring(6));
            assertEquals("text_completion", chunk.get("object").asText());
            JsonNode choice = chunk.get("choices").get(0);
            for (JsonNode t : choice.get("token_ids")) tokens.add(t.asInt());
            text.append(choice.get("text").asText());
            if (!choice.get("finish_reason").isNull()) finish = choice.get("finish_reason").asText();
        }
        int[] expected = greedyTokens(PROMPT, 8);
        assertArrayEquals(expected, tokens.stream().mapToInt(Integer::intValue).toArray());
        assertEquals("length", finish);
        assertEquals(decode(expected), text.toString());
    }

    @Test
    void aChatCompletionRunsTheCheckpointsTemplate() throws Exception {
        String body = "{\"model\":\"" + NAME + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],"
                + "\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}";
        HttpResponse<String> r = send(post("/v1/chat/completions", body));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode answer = JSON.readTree(r.body());
        assertEquals("chat.completion", answer.get("object").asText());
        JsonNode choice = answer.get("choices").get(0);
        int[] prompt = chatPrompt("Hello there");
        int[] expected = greedyTokens(prompt, 6);
        assertArrayEquals(expected, ids(choice.get("token_ids")));
        assertEquals("assistant", choice.get("message").get("role").asText());
        assertEquals(decode(expected), choice.get("message").get("content").asText());
        assertEquals(prompt.length, answer.get("usage").get("prompt_tokens").asInt());
    }

    @Test
    void aStreamedChatSendsTheRoleThenDeltas() throws Exception {
        String body = "{\"model\":\"" + NAME + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":4,\"ignore_eos\":true,\"temperature\":0,\"stream\":true}";
        List<String> data = send(post("/v1/chat/completions", body)).body().lines()
                .filter(l -> !l.isEmpty()).toList();
        JsonNode first = JSON.readTree(data.get(0).substring(6));
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        JsonNode last = JSON.readTree(data.get(data.size() - 2).substring(6));
        assertEquals("length", last.get("choices").get(0).get("finish_reason").asText());
        assertEquals(1 + 4 + 1 + 1, data.size(), data.toString()); // role, 4 tokens, finish, [DONE]
    }

    @Test
    void theOpenApiDocumentDescribesBothGenerationEndpointsAndNeedsNoApiKey() throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(base.resolve("/q/openapi?format=json")).build());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode doc = JSON.readTree(r.body());
        for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
            JsonNode post = doc.get("paths").get(path).get("post");
            assertTrue(post.get("requestBody").get("content").get("application/json").get("schema").get("$ref").asText()
                    .endsWith("CompletionRequest"), post.toString());
            for (String status : List.of("200", "400", "401", "429", "503")) {
                assertTrue(post.get("responses").has(status), path + " documents " + status + ": " + post);
            }
        }
        assertTrue(doc.get("paths").get("/v1/models").has("get"));
        JsonNode fields = doc.get("components").get("schemas").get("SamplingFields").get("properties");
        for (String field : List.of("model", "max_tokens", "temperature", "stop", "n", "stream", "stream_options")) {
            assertTrue(fields.has(field), "the request schema has " + field + ": " + fields);
        }
        JsonNode retryAfter = doc.get("components").get("responses").get("Overloaded").get("headers");
        assertTrue(retryAfter.has("Retry-After"), "429 documents Retry-After: " + retryAfter);
    }

    @Test
    void aMissingOrWrongApiKeyIs401InOpenAisShapeAndCounted() throws Exception {
        String missingCount = "moemesh_router_auth_failures_total{door=\"rest\",reason=\"missing\"}";
        String unknownCount = "moemesh_router_auth_failures_total{door=\"rest\",reason=\"unknown\"}";
        double missingBefore = sample(missingCount);
        double unknownBefore = sample(unknownCount);
        HttpResponse<String> missing = send(HttpRequest.newBuilder(base.resolve("/v1/models")).build());
        assertEquals(401, missing.statusCode());
        assertEquals("invalid_api_key", JSON.readTree(missing.body()).get("error").get("code").asText());
        HttpResponse<String> wrong = send(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("Authorization", "Bearer not-the-key")
                .POST(HttpRequest.BodyPublishers.ofString(completion(PROMPT, 2, false))).build());
        assertEquals(401, wrong.statusCode());
        JsonNode error = JSON.readTree(wrong.body()).get("error");
        assertEquals("invalid_request_error", error.get("type").asText());
        assertTrue(error.get("message").asText().contains("not valid"), error.toString());
        assertEquals(missingBefore + 1, sample(missingCount));
        assertEquals(unknownBefore + 1, sample(unknownCount));
    }

    @Test
    void aBadFieldIs400NamingIt() throws Exception {
        assertError(post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":[1,2],\"temperature\":\"hot\"}"),
                400, "temperature");
        assertError(post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":[1,2],\"stop\":[\"a\",\"b\",\"c\","
                + "\"d\",\"e\"]}"), 400, "stop");
        assertError(post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":[1,2],\"max_tokens\":0}"),
                400, "max_tokens");
        assertError(post("/v1/chat/completions", "{\"model\":\"" + NAME + "\",\"messages\":[{\"role\":\"user\"}]}"),
                400, "messages[0].content");
        assertError(post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":"
                + Arrays.toString(new int[RouterAndAttentionService.MAX_PROMPT_TOKENS + 1]) + "}"), 400, "prompt");
        HttpResponse<String> outsideVocabulary = send(post("/v1/completions", "{\"model\":\"" + NAME
                + "\",\"prompt\":[999999]}"));
        assertEquals(400, outsideVocabulary.statusCode(), outsideVocabulary.body());
        assertEquals("rejected_by_mesh", JSON.readTree(outsideVocabulary.body()).get("error").get("code").asText());
    }

    @Test
    void anUnknownModelIs404() throws Exception {
        assertError(post("/v1/completions", "{\"model\":\"gpt-4\",\"prompt\":[1,2]}"), 404, "model");
    }

    @Test
    void aBodyOverTheLimitIs413() throws Exception {
        String prompt = "x".repeat(RouterAndAttentionService.MAX_BODY_BYTES);
        assertError(post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":\"" + prompt + "\"}"), 413, null);
    }

    private void assertError(HttpRequest request, int status, String param) throws Exception {
        HttpResponse<String> r = send(request);
        assertEquals(status, r.statusCode(), r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertTrue(error.get("message").isTextual() && error.has("type") && error.has("code"), r.body());
        if (param != null) assertEquals(param, error.get("param").asText(), r.body());
    }

    private HttpResponse<String> send(HttpRequest request) throws Exception {
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private HttpRequest.Builder get(String path) {
        return HttpRequest.newBuilder(base.resolve(path)).header("Authorization", "Bearer "
                + RouterAndAttentionService.API_KEY);
    }

    private HttpRequest post(String path, String body) {
        return get(path).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static String completion(int[] prompt, int maxTokens, boolean stream) {
        return "{\"model\":\"" + NAME + "\",\"prompt\":" + Arrays.toString(prompt) + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}";
    }

    private static int[] ids(JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = array.get(i).asInt();
        return ids;
    }
}
