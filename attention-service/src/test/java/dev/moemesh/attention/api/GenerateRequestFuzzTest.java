package dev.moemesh.attention.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.proto.GenerateRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.Set;

import static dev.moemesh.testing.FuzzValues.edgeInt;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@code GenerateRequest} as the attention service receives it: it becomes an engine request the engine can run to
 * its end (every prompt id in the vocabulary, prompt + max_tokens within the served context and the KV cache, sampling
 * values the sampler takes), or it is refused the way the service refuses it ({@code INVALID_ARGUMENT} or
 * {@code FAILED_PRECONDITION} naming the field, or the engine's {@code IllegalArgumentException}, which the service
 * sends as {@code INVALID_ARGUMENT}); never another exception. Half the inputs are built field by field, half are raw
 * protobuf bytes.
 */
class GenerateRequestFuzzTest {
    private static final String FINGERPRINT = "tiny-fingerprint";
    private static final Set<Status.Code> REFUSALS = Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION);
    private static Model model;
    private static BatchingEngine engine;

    @FuzzTest(maxDuration = "20s")
    void aRequestRunsToItsEndOrIsRefusedNamingTheField(FuzzedDataProvider data) {
        if (engine == null) {
            model = Model.load(TestModels.tiny(Preset.TINY_V3), 0);
            engine = new BatchingEngine(model, EngineOptions.defaults());
        }
        GenerateRequest request;
        if (data.consumeBoolean()) {
            request = built(data);
        } else {
            try {
                request = GenerateRequest.parseFrom(data.consumeRemainingAsBytes());
            } catch (InvalidProtocolBufferException notAMessage) {
                return; // gRPC's unmarshaller refuses it before the service sees a request
            }
        }
        GenerationRequest generation;
        try {
            generation = GenerateRequests.toEngine(request, FINGERPRINT);
        } catch (StatusRuntimeException refused) {
            assertTrue(REFUSALS.contains(refused.getStatus().getCode()), refused.getStatus().toString());
            assertTrue(refused.getStatus().getDescription() != null, "a refusal that says nothing");
            return;
        }
        try {
            engine.check(generation);
        } catch (IllegalArgumentException refused) {
            assertTrue(refused.getMessage().contains("request " + generation.id()), refused.getMessage());
            return;
        }
        int vocab = model.config().vocabSize();
        for (int t : generation.promptIds()) assertTrue(t >= 0 && t < vocab, "prompt token " + t + " admitted");
        SamplingParams s = generation.sampling();
        assertTrue((long) generation.promptIds().length + s.maxTokens() <= model.maxSeqLen(),
                "prompt " + generation.promptIds().length + " + max_tokens " + s.maxTokens() + " admitted");
        assertTrue(s.maxTokens() >= 1 && Float.isFinite(s.temperature()) && s.temperature() >= 0 && s.topK() >= 0
                && s.topP() > 0 && s.topP() <= 1, "sampling admitted: " + s);
    }

    private static GenerateRequest built(FuzzedDataProvider data) {
        GenerateRequest.Builder r = GenerateRequest.newBuilder()
                .setRequestId(data.consumeString(12))
                .setModelFingerprint(data.consumeBoolean() ? FINGERPRINT : data.consumeString(12));
        int prompt = data.consumeInt(0, 40);
        for (int i = 0; i < prompt; i++) r.addPromptTokenIds(edgeInt(data, 600));
        if (data.consumeBoolean()) {
            var sampling = r.getSamplingBuilder()
                    .setMaxTokens(edgeInt(data, 2000))
                    .setTemperature(data.consumeBoolean() ? data.consumeProbabilityFloat() * 2 : data.consumeFloat())
                    .setTopK(edgeInt(data, 100))
                    .setTopP(data.consumeBoolean() ? data.consumeProbabilityFloat() : data.consumeFloat())
                    .setSeed(data.consumeLong()).setIgnoreEos(data.consumeBoolean());
            int stops = data.consumeInt(0, 4);
            for (int i = 0; i < stops; i++) sampling.addStopTokenIds(data.consumeInt());
        }
        return r.build();
    }
}
