package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static dev.moemesh.router.LocalEngineReference.chatPrompt;
import static dev.moemesh.router.LocalEngineReference.decode;
import static dev.moemesh.router.LocalEngineReference.greedyLogprobs;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.ChatTurn;
import dev.moemesh.proto.InferenceEvent;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.proto.TokenLogprobs;
import dev.moemesh.router.RouterAndAttentionService;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** The gRPC door end to end, router and attention service as processes: greedy tokens equal the local engine's. */
class InferenceGrpcServiceTest {
    private static final int[] PROMPT = {4, 2, 7, 1};

    private static RouterAndAttentionService mesh;
    private static ManagedChannel channel;
    private static InferenceServiceGrpc.InferenceServiceBlockingStub anonymous;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-grpc");
        channel = NettyChannelBuilder.forTarget(mesh.router.address()).usePlaintext().build();
        anonymous = InferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (mesh != null) mesh.close();
    }

    @Test
    void completeGivesTheLocalEnginesGreedyTokens() {
        InferenceResponse r = client().complete(tokens(PROMPT, 8));
        int[] expected = greedyTokens(PROMPT, 8);
        assertArrayEquals(expected, r.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertEquals("length", r.getFinishReason());
        assertEquals(decode(expected), r.getText());
        assertEquals(PROMPT.length, r.getPromptTokens());
    }

    @Test
    void generateStreamsEachTokenThenTheAnswer() {
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        InferenceResponse answer = null;
        for (Iterator<InferenceEvent> it = client().generate(tokens(PROMPT, 8)); it.hasNext(); ) {
            InferenceEvent e = it.next();
            if (e.hasToken()) {
                assertEquals(tokens.size(), e.getToken().getIndex());
                tokens.add(e.getToken().getTokenId());
                text.append(e.getToken().getText());
            } else {
                answer = e.getCompleted();
            }
        }
        int[] expected = greedyTokens(PROMPT, 8);
        assertArrayEquals(expected, tokens.stream().mapToInt(Integer::intValue).toArray());
        assertEquals(tokens, answer.getTokenIdsList());
        assertEquals(decode(expected), text.toString());
    }

    @Test
    void logprobsAskedForComeWithEachStreamedTokenAndInTheAnswer() {
        InferenceRequest request = tokens(PROMPT, 6).toBuilder()
                .setSampling(greedy(6).toBuilder().setLogprobs(true).setTopLogprobs(4)).build();
        List<TokenLogprobs> streamed = new ArrayList<>();
        InferenceResponse answer = null;
        for (Iterator<InferenceEvent> it = client().generate(request); it.hasNext(); ) {
            InferenceEvent e = it.next();
            if (e.hasToken()) streamed.add(e.getToken().getLogprobs());
            else answer = e.getCompleted();
        }
        List<dev.moemesh.core.engine.TokenLogprobs> expected = greedyLogprobs(PROMPT, 6, 4);
        assertEquals(streamed, answer.getLogprobsList());
        assertEquals(answer.getLogprobsList(), client().complete(request).getLogprobsList());
        for (int i = 0; i < 6; i++) {
            assertEquals(expected.get(i).logprob(), streamed.get(i).getLogprob(), 1e-6f);
            assertEquals(answer.getTokenIds(i), streamed.get(i).getTopTokenIds(0), "greedy: the top-1 is the token");
            assertEquals(4, streamed.get(i).getTopTokenIdsCount());
            for (int j = 0; j < 4; j++) {
                assertEquals(expected.get(i).topIds()[j], streamed.get(i).getTopTokenIds(j));
                assertEquals(expected.get(i).topLogprobs()[j], streamed.get(i).getTopLogprobs(j), 1e-6f);
            }
        }
        assertEquals(0, client().complete(tokens(PROMPT, 2)).getLogprobsCount(), "none unless asked for");
    }

    @Test
    void chatMessagesRunTheCheckpointsTemplate() {
        InferenceResponse r = client().complete(InferenceRequest.newBuilder().setModel(NAME)
                .addMessages(ChatTurn.newBuilder().setRole("user").setContent("Hello there"))
                .setSampling(greedy(6)).build());
        int[] prompt = chatPrompt("Hello there");
        assertArrayEquals(greedyTokens(prompt, 6), r.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertEquals(prompt.length, r.getPromptTokens());
    }

    @Test
    void aMissingOrWrongApiKeyIsUnauthenticated() {
        assertStatus(Status.Code.UNAUTHENTICATED, "no API key", () -> anonymous.complete(tokens(PROMPT, 2)));
        Metadata wrong = new Metadata();
        wrong.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer nope");
        assertStatus(Status.Code.UNAUTHENTICATED, "not valid", () -> anonymous
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(wrong)).complete(tokens(PROMPT, 2)));
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        assertStatus(Status.Code.NOT_FOUND, "gpt-4", () -> client().complete(tokens(PROMPT, 2).toBuilder()
                .setModel("gpt-4").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "exactly one of prompt", () -> client().complete(
                tokens(PROMPT, 2).toBuilder().setPrompt("hi").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "sampling.max_tokens", () -> client().complete(
                tokens(PROMPT, 100_000)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "prompt_token_ids is 65 tokens", () -> client().complete(
                tokens(new int[RouterAndAttentionService.MAX_PROMPT_TOKENS + 1], 2)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "sampling.temperature", () -> client().complete(
                tokens(PROMPT, 2).toBuilder().setSampling(greedy(2).toBuilder().setTemperature(-1)).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "sampling.top_logprobs must be from 0 to 20", () -> client()
                .complete(tokens(PROMPT, 2).toBuilder().setSampling(greedy(2).toBuilder().setLogprobs(true)
                        .setTopLogprobs(21)).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "sampling.top_logprobs (3) needs logprobs", () -> client()
                .complete(tokens(PROMPT, 2).toBuilder().setSampling(greedy(2).toBuilder().setTopLogprobs(3)).build()));
    }

    private InferenceServiceGrpc.InferenceServiceBlockingStub client() {
        Metadata key = new Metadata();
        key.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
                "Bearer " + RouterAndAttentionService.API_KEY);
        return anonymous.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(key));
    }

    private static void assertStatus(Status.Code code, String inDescription, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(inDescription), e.getMessage());
    }

    private static InferenceRequest tokens(int[] prompt, int maxTokens) {
        InferenceRequest.Builder b = InferenceRequest.newBuilder().setModel(NAME).setSampling(greedy(maxTokens));
        for (int t : prompt) b.addPromptTokenIds(t);
        return b.build();
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true).build();
    }
}
