package dev.moemesh.router.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.SamplingParams.Builder;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.Optional;

import static dev.moemesh.testing.FuzzValues.edgeInt;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An {@code InferenceRequest} as the router's public gRPC door receives it, from any caller with a key: it becomes a
 * generation within the router's limits that the attention service can take (prompt ids and stop ids that are token
 * ids, sampling core accepts), or an {@link InvalidRequest} naming the field (the door's {@code INVALID_ARGUMENT} or
 * {@code NOT_FOUND}); never another exception (an {@code UNKNOWN}). Half the inputs are built field by field (32-bit
 * edges included: the ids and {@code max_tokens} are {@code uint32}), half are raw protobuf bytes. The
 * tokenizer-less case, as {@link RequestParserFuzzTest}: text and messages are refused, token ids are served.
 */
class InferenceRequestFuzzTest {
    private static final String MODEL = "tiny";
    private static final int MAX_PROMPT = 64;
    private static final int MAX_TOKENS = 32;
    private static final KeyQuota OPEN_DOOR = KeyQuota.unbounded(new SimpleMeterRegistry());
    private final Prompts prompts = new Prompts(MODEL, Optional.empty(), MAX_PROMPT, MAX_TOKENS);

    @FuzzTest(maxDuration = "20s")
    void aRequestBecomesAGenerationWithinTheLimitsOrIsRefusedByField(FuzzedDataProvider data) {
        InferenceRequest request;
        if (data.consumeBoolean()) {
            request = built(data);
        } else {
            try {
                request = InferenceRequest.parseFrom(data.consumeRemainingAsBytes());
            } catch (InvalidProtocolBufferException notAMessage) {
                return; // gRPC's unmarshaller refuses it before the door sees a request
            }
        }
        GenerationRequest generation;
        try {
            generation = InferenceRequests.toGeneration("inf-1", request, prompts, OPEN_DOOR);
        } catch (InvalidRequest refused) {
            assertNotNull(refused.code(), "a refusal without an error code");
            assertNotNull(refused.param(), "a refusal that names no field");
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal without a reason");
            return;
        }
        assertTrue(generation.promptIds().length >= 1 && generation.promptIds().length <= MAX_PROMPT,
                "prompt of " + generation.promptIds().length + " tokens");
        for (int id : generation.promptIds()) assertTrue(id >= 0, "prompt token id " + id + " admitted");
        SamplingParams s = generation.sampling();
        assertTrue(s.maxTokens() >= 1 && s.maxTokens() <= MAX_TOKENS, "max_tokens " + s.maxTokens());
        for (int id : s.stopIds()) assertTrue(id >= 0, "stop token id " + id + " admitted");
        assertTrue(Float.isFinite(s.temperature()) && s.temperature() >= 0 && s.topK() >= 0 && s.topP() > 0
                && s.topP() <= 1, "sampling admitted: " + s);
    }

    private static InferenceRequest built(FuzzedDataProvider data) {
        InferenceRequest.Builder r = InferenceRequest.newBuilder()
                .setModel(data.consumeBoolean() ? MODEL : data.consumeString(8));
        switch (data.consumeInt(0, 3)) {
            case 0 -> r.setPrompt(data.consumeString(16));
            case 1 -> r.addMessagesBuilder().setRole(data.consumeString(10)).setContent(data.consumeString(16));
            default -> {
                int prompt = data.consumeInt(0, 80);
                for (int i = 0; i < prompt; i++) r.addPromptTokenIds(edgeInt(data, 600));
            }
        }
        if (data.consumeBoolean()) {
            Builder sampling = r.getSamplingBuilder()
                    .setMaxTokens(edgeInt(data, 40))
                    .setTemperature(data.consumeBoolean() ? data.consumeProbabilityFloat() * 2 : data.consumeFloat())
                    .setTopK(edgeInt(data, 100))
                    .setTopP(data.consumeBoolean() ? data.consumeProbabilityFloat() : data.consumeFloat())
                    .setSeed(data.consumeLong()).setIgnoreEos(data.consumeBoolean())
                    .setLogprobs(data.consumeBoolean()).setTopLogprobs(edgeInt(data, 25));
            int stops = data.consumeInt(0, 4);
            for (int i = 0; i < stops; i++) sampling.addStopTokenIds(edgeInt(data, 600));
        }
        return r.build();
    }
}
