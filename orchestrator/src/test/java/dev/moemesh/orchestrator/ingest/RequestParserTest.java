package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class RequestParserTest {
    private final RequestParser parser = new RequestParser();

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aMinimalRequestGetsTheDocumentedDefaults() throws Exception {
        InferenceRequest r = parser.parse(utf8("a"), utf8("{\"id\":\"a\",\"prompt_token_ids\":[3,4]}"));
        assertEquals("a", r.id());
        assertArrayEquals(new int[] {3, 4}, r.promptTokenIds().orElseThrow());
        assertEquals(16, r.maxTokens());
        assertEquals(0f, r.temperature());
        assertEquals(1f, r.topP());
        assertEquals(0, r.topK());
        assertEquals(0, r.stopTokenIds().length);
        assertFalse(r.stream());
        assertFalse(r.ignoreEos());
    }

    @Test
    void everyFieldIsRead() throws Exception {
        InferenceRequest r = parser.parse(null, utf8("{\"id\":\"b\",\"prompt\":\"hi\",\"max_tokens\":5,\"temperature\":0.7,"
                + "\"top_p\":0.9,\"top_k\":40,\"seed\":7,\"stop_token_ids\":[1,2],\"ignore_eos\":true,\"stream\":true}"));
        assertEquals("hi", r.prompt().orElseThrow());
        assertEquals(5, r.maxTokens());
        assertEquals(0.7f, r.temperature());
        assertEquals(0.9f, r.topP());
        assertEquals(40, r.topK());
        assertEquals(7, r.seed());
        assertArrayEquals(new int[] {1, 2}, r.stopTokenIds());
        assertTrue(r.ignoreEos());
        assertTrue(r.stream());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{not json                                            | not JSON",
        "[1,2]                                                | expected a JSON object, got ARRAY",
        "{\"prompt_token_ids\":[1]}                           | field 'id' is required",
        "{\"id\":\"x\"}                                       | give exactly one of 'prompt' and 'prompt_token_ids'",
        "{\"id\":\"x\",\"prompt\":\"a\",\"prompt_token_ids\":[1]} | give exactly one of 'prompt' and 'prompt_token_ids'",
        "{\"id\":\"x\",\"prompt_token_ids\":[]}               | field 'prompt_token_ids' must be a non-empty array",
        "{\"id\":\"x\",\"prompt_token_ids\":[1,-2]}           | field 'prompt_token_ids'[1] must be a token id",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"max_tokens\":0} | field 'max_tokens' must be an integer in [1, 1000000], got 0",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"top_p\":0}  | field 'top_p' must be a number in (0.0, 1.0], got 0",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"temperature\":\"hot\"} | field 'temperature' must be a number",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stream\":1} | field 'stream' must be true or false, got 1",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"messages\":[]} | unknown field 'messages'",
    })
    void anInvalidRequestIsRefusedNamingTheField(String json, String reason) {
        var e = assertThrows(InvalidRequestException.class, () -> parser.parse(null, utf8(json)));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }

    @Test
    void aKeyOtherThanTheIdIsRefused() {
        var e = assertThrows(InvalidRequestException.class,
                () -> parser.parse(utf8("y"), utf8("{\"id\":\"x\",\"prompt_token_ids\":[1]}")));
        assertEquals("request x: the record key 'y' differs from field 'id'; key the record by its id (or send no key)",
                e.getMessage());
    }

    @Test
    void aTombstoneIsRefused() {
        assertThrows(InvalidRequestException.class, () -> parser.parse(utf8("x"), null));
    }
}
