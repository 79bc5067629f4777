package dev.moemesh.router.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.proto.ChatTurn;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.router.LocalEngineReference;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/**
 * A checkpoint without tokenizer.json is served by token ids, as other servers do with their skip-tokenizer option:
 * token-id prompts get the local engine's tokens (and empty text); text prompts and chat messages are refused with
 * 400 / INVALID_ARGUMENT saying to send token ids. The router and an attention service run as processes on it.
 */
class TokenIdsOnlyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] PROMPT = {4, 2, 7, 1};
    private static final String NAME = "tiny-v3-no-tokenizer";

    private static LocalMesh mesh;
    private static URI base;
    private static ManagedChannel channel;
    private static InferenceServiceGrpc.InferenceServiceBlockingStub grpc;

    /** The tiny checkpoint's config and weights (linked, not copied) without its tokenizer files. */
    private static Path checkpointWithoutTokenizer() throws IOException {
        Path dir = LocalMesh.home().resolve("integration-tests/target").resolve(NAME);
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(LocalEngineReference.MODEL)) {
            for (Path f : files.filter(f -> !f.getFileName().toString().startsWith("tokenizer")).toList()) {
                Files.deleteIfExists(dir.resolve(f.getFileName()));
                Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
            }
        }
        return dir;
    }

    @BeforeAll
    static void start() throws IOException {
        Path dir = checkpointWithoutTokenizer();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        LocalMesh.Service attention = mesh.startAttentionService("no-tokenizer-attention", dir, List.of(),
                LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
        LocalMesh.Service router = mesh.startRouter("no-tokenizer-router", dir, List.of(attention.address()),
                LocalMesh.freePort(), LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
        base = URI.create("http://localhost:" + router.httpPort() + "/");
        channel = NettyChannelBuilder.forTarget(router.address()).usePlaintext().build();
        grpc = InferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (mesh != null) mesh.close();
    }

    @Test
    void tokenIdPromptsGetTheLocalEnginesTokensThroughBothDoors() throws Exception {
        int[] expected = LocalEngineReference.greedyTokens(PROMPT, 6);
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":[4,2,7,1],"
                + "\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode choice = JSON.readTree(r.body()).get("choices").get(0);
        assertArrayEquals(expected, JSON.convertValue(choice.get("token_ids"), int[].class));
        assertEquals("", choice.get("text").asText());

        InferenceRequest.Builder request = InferenceRequest.newBuilder().setModel(NAME)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(6).setIgnoreEos(true));
        for (int t : PROMPT) request.addPromptTokenIds(t);
        InferenceResponse answer = grpc.complete(request.build());
        assertArrayEquals(expected, answer.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertEquals("", answer.getText());
    }

    @Test
    void textPromptsAndChatMessagesAreRefusedSayingToSendTokenIds() throws Exception {
        HttpResponse<String> text = post("/v1/completions", "{\"model\":\"" + NAME + "\",\"prompt\":\"Hello\"}");
        assertEquals(400, text.statusCode(), text.body());
        JsonNode error = JSON.readTree(text.body()).get("error");
        assertEquals("invalid_request_error", error.get("type").asText());
        assertEquals("prompt", error.get("param").asText());
        assertTrue(error.get("message").asText().contains("has no tokenizer.json"), text.body());

        HttpResponse<String> chat = post("/v1/chat/completions", "{\"model\":\"" + NAME + "\",\"messages\":"
                + "[{\"role\":\"user\",\"content\":\"Hello\"}]}");
        assertEquals(400, chat.statusCode(), chat.body());
        assertTrue(chat.body().contains("send the prompt as token ids"), chat.body());

        for (InferenceRequest request : List.of(
                InferenceRequest.newBuilder().setModel(NAME).setPrompt("Hello").build(),
                InferenceRequest.newBuilder().setModel(NAME).addMessages(ChatTurn.newBuilder().setRole("user")
                        .setContent("Hello")).build())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> grpc.complete(request));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("has no tokenizer.json"), e.getMessage());
        }
    }

    private static HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(base.resolve(path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
