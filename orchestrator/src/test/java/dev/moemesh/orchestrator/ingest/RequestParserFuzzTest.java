package dev.moemesh.orchestrator.ingest;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.moemesh.core.engine.SamplingParams;

import java.util.Optional;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Anyone who may write to {@code inference.requests} chooses a record's key and value bytes: parsing gives a request
 * the attention service can run, or an {@link InvalidRequestException} whose reason goes to the dead-letter topic;
 * never another exception (which would stall the partition). Seeds: src/test/resources/.../RequestParserFuzzTestInputs.
 */
class RequestParserFuzzTest {
    private final RequestParser parser = new RequestParser(Optional.of(Pattern.compile("replies\\..+")));

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"\"id\"", "\"prompt\"", "\"prompt_token_ids\"", "\"max_tokens\"", "\"temperature\"",
            "\"top_p\"", "\"top_k\"", "\"seed\"", "\"stop_token_ids\"", "\"ignore_eos\"", "\"stream\"", "true",
            "\"messages\"", "\"role\"", "\"content\"", "\"stop\"", "\"reply_topic\"", "\"replies.a\"",
            "\"logprobs\"", "\"top_logprobs\"",
            "null", "-1", "1e400", "9223372036854775808", "[[[[[[[["})
    void recordParsesIntoARunnableRequestOrIsRefused(FuzzedDataProvider data) {
        byte[] key = data.consumeBoolean() ? data.consumeBytes(data.consumeInt(0, 300)) : null;
        byte[] value = data.consumeBoolean() ? null : data.consumeRemainingAsBytes();
        InferenceRequest request;
        try {
            request = parser.parse(key, value);
        } catch (InvalidRequestException refused) {
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal without a reason");
            return;
        }
        assertTrue(!request.id().isEmpty() && request.id().length() <= RequestParser.MAX_ID_LENGTH, request.id());
        assertEquals(1, (request.prompt().isPresent() ? 1 : 0) + (request.promptTokenIds().isPresent() ? 1 : 0)
                + (request.messages().isPresent() ? 1 : 0), "not exactly one prompt");
        request.messages().ifPresent(m -> assertTrue(!m.isEmpty(), "no messages"));
        request.replyTopic().ifPresent(t -> assertTrue(t.matches("replies\\..+"), "a reply topic past the pattern: " + t));
        for (String stop : request.stop()) assertTrue(!stop.isEmpty(), "an empty stop string");
        request.promptTokenIds().ifPresent(ids -> assertTrue(ids.length > 0, "an empty prompt of token ids"));
        assertTrue(request.maxTokens() >= 1, "max_tokens " + request.maxTokens());
        assertTrue(Float.isFinite(request.temperature()) && request.temperature() >= 0, "temperature");
        assertTrue(request.topP() > 0 && request.topP() <= 1, "top_p " + request.topP());
        assertTrue(request.topK() >= 0 && request.seed() >= 0, "top_k or seed below 0");
        assertTrue(request.logprobs() >= SamplingParams.NO_LOGPROBS && request.logprobs() <= SamplingParams.MAX_LOGPROBS,
                "logprobs " + request.logprobs());
        for (int id : request.stopTokenIds()) assertTrue(id >= 0, "a negative stop token id");
        request.promptTokenIds().ifPresent(ids -> {
            for (int id : ids) assertTrue(id >= 0, "a negative prompt token id");
        });
    }
}
