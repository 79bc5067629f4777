package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.tokenizer.ChatMessage;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
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
        assertEquals(List.of(), r.stop());
        assertTrue(r.messages().isEmpty());
        assertFalse(r.stream());
        assertFalse(r.ignoreEos());
        assertEquals(SamplingParams.NO_LOGPROBS, r.logprobs());
        assertFalse(r.wantsLogprobs());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "\"logprobs\":true,\"top_logprobs\":3    | 3",
        "\"logprobs\":true,\"top_logprobs\":20   | 20",
        "\"logprobs\":true,\"top_logprobs\":0    | 0",
        "\"logprobs\":true                        | 0",
        "\"logprobs\":true,\"top_logprobs\":null | 0",
        "\"logprobs\":false                       | -1",
        "\"logprobs\":null,\"top_logprobs\":null | -1",
    })
    void logprobsAreAskedAsTheRestChatDoorAsksThem(String fields, int alternatives) throws Exception {
        InferenceRequest r = parser.parse(null, utf8("{\"id\":\"lp\",\"prompt_token_ids\":[1]," + fields + "}"));
        assertEquals(alternatives, r.logprobs(), fields);
        assertEquals(alternatives >= 0, r.wantsLogprobs());
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

    @Test
    void messagesAndStopStringsAreRead() throws Exception {
        InferenceRequest r = parser.parse(null, utf8("{\"id\":\"c\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                + "{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"\\n\\n\",\"User:\"]}"));
        assertEquals(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hi")),
                r.messages().orElseThrow());
        assertEquals(List.of("\n\n", "User:"), r.stop());
        assertEquals(List.of("END"), parser.parse(null, utf8("{\"id\":\"d\",\"prompt\":\"a\",\"stop\":\"END\"}")).stop(),
                "one string is one stop string");
    }

    @Test
    void aReplyTopicMustMatchTheConfiguredPattern() throws Exception {
        RequestParser replies = new RequestParser(Optional.of(Pattern.compile("replies\\.[a-z0-9-]+")));
        assertEquals("replies.team-a", replies.parse(null, utf8("{\"id\":\"a\",\"prompt_token_ids\":[1],"
                + "\"reply_topic\":\"replies.team-a\"}")).replyTopic().orElseThrow());
        assertTrue(replies.parse(null, utf8("{\"id\":\"a\",\"prompt_token_ids\":[1]}")).replyTopic().isEmpty());
        var e = assertThrows(InvalidRequestException.class, () -> replies.parse(null, utf8(
                "{\"id\":\"a\",\"prompt_token_ids\":[1],\"reply_topic\":\"inference.requests\"}")));
        assertEquals("field 'reply_topic' 'inference.requests' does not match orchestrator.reply-topic-pattern"
                + " 'replies\\.[a-z0-9-]+'", e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> replies.parse(null, utf8(
                "{\"id\":\"a\",\"prompt_token_ids\":[1],\"reply_topic\":\"replies/a\"}")));
        assertTrue(e.getMessage().startsWith("field 'reply_topic' must be a Kafka topic name"), e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> parser.parse(null, utf8(
                "{\"id\":\"a\",\"prompt_token_ids\":[1],\"reply_topic\":\"replies.team-a\"}")));
        assertTrue(e.getMessage().contains("orchestrator.reply-topic-pattern is not set"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{not json                                            | not JSON",
        "[1,2]                                                | expected a JSON object, got ARRAY",
        "{\"prompt_token_ids\":[1]}                           | field 'id' is required",
        "{\"id\":\"x\"}                                       | give exactly one of 'prompt', 'prompt_token_ids' and 'messages'",
        "{\"id\":\"x\",\"prompt\":\"a\",\"prompt_token_ids\":[1]} | give exactly one of 'prompt', 'prompt_token_ids' and 'messages'",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]} | give exactly one of",
        "{\"id\":\"x\",\"messages\":[]}                   | field 'messages' must be a non-empty array of {role, content}",
        "{\"id\":\"x\",\"messages\":[{\"content\":\"a\"}]} | field 'messages'[0] must be an object with a non-empty string 'role'",
        "{\"id\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":1}]} | field 'messages'[0].content must be a string",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stop\":[]} | field 'stop' must be a string or an array of 1 to 4 strings",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]} | an array of 1 to 4 strings",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stop\":[\"\"]} | field 'stop' must hold non-empty strings",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stop\":7} | field 'stop' must hold non-empty strings, got 7",
        "{\"id\":\"x\",\"prompt_token_ids\":[]}               | field 'prompt_token_ids' must be a non-empty array",
        "{\"id\":\"x\",\"prompt_token_ids\":[1,-2]}           | field 'prompt_token_ids'[1] must be a token id",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"max_tokens\":0} | field 'max_tokens' must be an integer in [1, 1000000], got 0",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"top_p\":0}  | field 'top_p' must be a number in (0.0, 1.0], got 0",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"temperature\":\"hot\"} | field 'temperature' must be a number",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"stream\":1} | field 'stream' must be true or false, got 1",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"reply_to\":\"t\"} | unknown field 'reply_to'",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"logprobs\":true,\"top_logprobs\":21} | field 'top_logprobs' must be an integer in [0, 20], got 21",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"logprobs\":true,\"top_logprobs\":-1} | field 'top_logprobs' must be an integer in [0, 20], got -1",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"logprobs\":true,\"top_logprobs\":2.5} | field 'top_logprobs' must be an integer in [0, 20], got 2.5",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"top_logprobs\":3} | field 'top_logprobs' needs logprobs: true",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"logprobs\":false,\"top_logprobs\":3} | field 'top_logprobs' needs logprobs: true",
        "{\"id\":\"x\",\"prompt_token_ids\":[1],\"logprobs\":3} | field 'logprobs' must be true or false, got 3",
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
