package dev.moemesh.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.Finish;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.InferenceResponse;
import org.junit.jupiter.api.Test;

import java.util.List;

class GenerationWireTest {

    @Test
    void samplingParametersSurviveTheWireBothWays() {
        SamplingParams sent = new SamplingParams(12, 0.7f, 40, 0.9f, 1234L, new int[] {5, 9}, true);
        GenerateRequest r = GenerationWire.request("r1", new int[] {4, 2, 7}, sent);
        assertEquals("r1", r.getRequestId());
        assertEquals(List.of(4, 2, 7), r.getPromptTokenIdsList());
        assertEquals("", r.getModelFingerprint());
        SamplingParams read = GenerationWire.sampling(r.getSampling());
        assertEquals(sent.maxTokens(), read.maxTokens());
        assertEquals(sent.temperature(), read.temperature());
        assertEquals(sent.topK(), read.topK());
        assertEquals(sent.topP(), read.topP());
        assertEquals(sent.seed(), read.seed());
        assertArrayEquals(sent.stopIds(), read.stopIds());
        assertEquals(sent.ignoreEos(), read.ignoreEos());
    }

    @Test
    void logprobsSurviveTheWireAndAreOffUnlessAsked() {
        for (int k : new int[] {SamplingParams.NO_LOGPROBS, 0, 20}) {
            SamplingParams sent = new SamplingParams(4, 0f, 0, 1f, 0, null, false, k);
            GenerateRequest r = GenerationWire.request("r1", new int[] {4}, sent);
            assertEquals(k != SamplingParams.NO_LOGPROBS, r.getSampling().getLogprobs());
            assertEquals(k, GenerationWire.sampling(r.getSampling()).logprobs());
        }
        GenerateRequest.Builder alone = GenerateRequest.newBuilder();
        alone.getSamplingBuilder().setMaxTokens(3).setTopLogprobs(5);
        var e = assertThrows(IllegalArgumentException.class, () -> GenerationWire.sampling(alone.getSampling()));
        assertEquals("top_logprobs (5) needs logprobs: true", e.getMessage());
        alone.getSamplingBuilder().setLogprobs(true).setTopLogprobs(21);
        e = assertThrows(IllegalArgumentException.class, () -> GenerationWire.sampling(alone.getSampling()));
        assertEquals("top_logprobs must be from 0 to 20, got 21", e.getMessage());
    }

    @Test
    void anUnsetTopPIsNoNucleusCut() {
        GenerateRequest.Builder r = GenerateRequest.newBuilder();
        r.getSamplingBuilder().setMaxTokens(3);
        assertEquals(1f, GenerationWire.sampling(r.getSampling()).topP());
        assertEquals(1f, GenerationWire.sampling(r.getSamplingBuilder()).topP(), "a builder reads the same");
    }

    @Test
    void aValueCoreRefusesIsNamed() {
        GenerateRequest.Builder r = GenerateRequest.newBuilder();
        r.getSamplingBuilder().setMaxTokens(3).setTemperature(-1);
        var e = assertThrows(IllegalArgumentException.class, () -> GenerationWire.sampling(r.getSampling()));
        assertTrue(e.getMessage().startsWith("temperature must be"), e.getMessage());
    }

    @Test
    void theFinishReasonTravelsAsTheEnumAndTheOldString() {
        for (FinishReason reason : FinishReason.values()) {
            Completion c = GenerationWire.finished(Completion.newBuilder(), reason).build();
            assertEquals(reason.wireName(), c.getFinishReason(), "peers that predate the enum read the string");
            assertEquals(reason, GenerationWire.finishReason(c));
            InferenceResponse r = GenerationWire.finished(InferenceResponse.newBuilder(), reason).build();
            assertEquals(reason.wireName(), r.getFinishReason());
            assertEquals(reason, GenerationWire.finishReason(r));
        }
    }

    @Test
    void aCompletionFromAPeerThatPredatesTheEnumIsReadFromItsString() {
        Completion old = Completion.newBuilder().setFinishReason("cancelled").build();
        assertEquals(Finish.FINISH_UNSPECIFIED, old.getFinish());
        assertEquals(FinishReason.CANCELLED, GenerationWire.finishReason(old));
        var e = assertThrows(IllegalArgumentException.class,
                () -> GenerationWire.finishReason(Completion.newBuilder().setFinishReason("exploded").build()));
        assertTrue(e.getMessage().contains("'exploded'"), e.getMessage());
    }
}
