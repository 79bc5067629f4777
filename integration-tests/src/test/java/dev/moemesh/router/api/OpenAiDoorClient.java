package dev.moemesh.router.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.router.RouterAndAttentionService;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

/** The tests' client of the router's REST door with its API key: answers, streams and refusals as JSON. */
final class OpenAiDoorClient {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final URI base;

    OpenAiDoorClient(URI base) {
        this.base = base;
    }

    /** The answer to {@code body}, which must be 200. */
    JsonNode post(String path, String body) throws Exception {
        HttpResponse<String> r = send(path, body);
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    /** The stream's events before {@code [DONE]}, which must end it. */
    List<JsonNode> stream(String path, String body) throws Exception {
        HttpResponse<String> r = send(path, body);
        assertEquals(200, r.statusCode(), r.body());
        List<String> data = r.body().lines().filter(l -> !l.isEmpty()).toList();
        assertEquals("data: [DONE]", data.get(data.size() - 1));
        List<JsonNode> events = new ArrayList<>();
        for (String line : data.subList(0, data.size() - 1)) {
            assertTrue(line.startsWith("data: {"), line);
            events.add(JSON.readTree(line.substring(6)));
        }
        return events;
    }

    /** {@code body} must be refused with 400, an {@code invalid_request_error} naming {@code param}. */
    void assertRefused(String path, String body, String param) throws Exception {
        HttpResponse<String> r = send(path, body);
        assertEquals(400, r.statusCode(), r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertEquals(param, error.get("param").asText(), r.body());
        assertEquals("invalid_request_error", error.get("type").asText(), r.body());
    }

    HttpResponse<String> send(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(base.resolve(path)).header("content-type", "application/json")
                .header("Authorization", "Bearer " + RouterAndAttentionService.API_KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
