package dev.moemesh.router.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Any caller of the OpenAI door chooses the body: parsing gives a request within the router's limits, or an
 * {@link InvalidRequest} naming the field (a 400 or 404); never another exception (a 500). The tokenizer-less case:
 * text is refused, token ids are served. Seeds: src/test/resources/.../RequestParserFuzzTestInputs.
 */
class RequestParserFuzzTest {
    private static final int MAX_PROMPT = 64;
    private static final int MAX_TOKENS = 32;
    private static final KeyQuota OPEN_DOOR = KeyQuota.unbounded(new SimpleMeterRegistry());
    private final RequestParser parser = new RequestParser(new Prompts("tiny", Optional.empty(), MAX_PROMPT, MAX_TOKENS));

    @FuzzTest(maxDuration = "20s")
    @DictionaryEntries({"\"model\"", "\"tiny\"", "\"prompt\"", "\"messages\"", "\"role\"", "\"content\"",
            "\"max_tokens\"", "\"max_completion_tokens\"", "\"temperature\"", "\"top_p\"", "\"top_k\"", "\"seed\"",
            "\"stop\"", "\"stop_token_ids\"", "\"ignore_eos\"", "\"stream\"", "\"n\"", "\"logprobs\"",
            "\"top_logprobs\"", "true", "null", "-1", "1e400", "9223372036854775808", "[[[[[[[["})
    void bodyParsesWithinLimitsOrIsRefusedByField(FuzzedDataProvider data) {
        boolean chat = data.consumeBoolean();
        String body = data.consumeRemainingAsString();
        OpenAiRequest request;
        try {
            request = parser.parse(body, chat, OPEN_DOOR);
        } catch (InvalidRequest refused) {
            assertNotNull(refused.code(), "a refusal without an OpenAI error code");
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank(), "a refusal without a reason");
            return;
        }
        assertTrue(request.promptIds().length >= 1 && request.promptIds().length <= MAX_PROMPT,
                "prompt of " + request.promptIds().length + " tokens");
        for (int id : request.promptIds()) assertTrue(id >= 0, "a negative prompt token id");
        assertTrue(request.sampling().maxTokens() >= 1 && request.sampling().maxTokens() <= MAX_TOKENS,
                "max_tokens " + request.sampling().maxTokens());
        assertTrue(request.sampling().temperature() >= 0 && request.sampling().temperature() <= 2, "temperature");
        assertTrue(request.sampling().topP() > 0 && request.sampling().topP() <= 1, "top_p");
        assertTrue(request.sampling().logprobs() >= -1 && request.sampling().logprobs() <= (chat ? 20 : 5),
                "logprobs " + request.sampling().logprobs());
    }
}
