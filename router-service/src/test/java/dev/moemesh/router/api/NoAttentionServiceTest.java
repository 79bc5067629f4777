package dev.moemesh.router.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;

/** With no attention service reachable, a request (streamed or not) is 503 in OpenAI's shape, naming the service. */
@QuarkusTest
@TestProfile(NoAttentionServiceTest.NothingListening.class)
class NoAttentionServiceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The router on the tiny checkpoint, its attention service a port nothing listens on; no API keys. */
    public static final class NothingListening implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("router.model-dir", TestModels.tiny(Preset.TINY_V3).toString(),
                    "router.attention-services", "localhost:" + LocalMesh.freePort());
        }
    }

    @TestHTTPResource("/")
    URI base;

    @Test
    void aRequestIs503WhenNoAttentionServiceAnswers() throws Exception {
        for (boolean stream : new boolean[] {false, true}) {
            String body = "{\"model\":\"" + TestModels.tiny(Preset.TINY_V3).getFileName() + "\",\"prompt\":[1,2],"
                    + "\"stream\":" + stream + "}";
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(base.resolve(
                    "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(503, r.statusCode(), r.body());
            JsonNode error = JSON.readTree(r.body()).get("error");
            assertEquals("mesh_unavailable", error.get("code").asText());
            assertEquals("server_error", error.get("type").asText());
        }
    }
}
