package dev.moemesh.router.api;

import static dev.moemesh.router.LocalEngineReference.NAME;
import static dev.moemesh.router.LocalEngineReference.chatPrompt;
import static dev.moemesh.router.LocalEngineReference.decode;
import static dev.moemesh.router.LocalEngineReference.greedyLogprobs;
import static dev.moemesh.router.LocalEngineReference.greedyTokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.router.LocalEngineReference;
import dev.moemesh.router.RouterAndAttentionService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * What an OpenAI client gets for {@code logprobs} / {@code top_logprobs}: the router and an attention service on the
 * tiny checkpoint as processes; the expected figures are the single-process engine's (its core test checks them
 * against the log-softmax of the model's logits).
 */
class OpenAiLogprobsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] PROMPT = {4, 2, 7, 1};
    private static final int MAX_TOKENS = 16;
    /** Float precision: the mesh sends float32 figures, the engine's are float32 too. */
    private static final double EXACT = 1e-6;

    private static RouterAndAttentionService mesh;
    private static URI base;
    private static OpenAiDoorClient door;
    private static String[] tokenTexts;

    @BeforeAll
    static void start() {
        mesh = RouterAndAttentionService.start("router-logprobs");
        base = mesh.base();
        door = new OpenAiDoorClient(base);
        tokenTexts = LocalEngineReference.tokenTexts();
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
    }

    @Test
    void chatLogprobsAreTheSingleProcessEnginesAndGreedyTokensAreTheirOwnTopAlternative() throws Exception {
        JsonNode body = door.post("/v1/chat/completions", chat(", \"logprobs\": true, \"top_logprobs\": 20", false));
        JsonNode choice = body.get("choices").get(0);
        JsonNode content = choice.get("logprobs").get("content");
        List<TokenLogprobs> expected = greedyLogprobs(chatPrompt("Hi"), MAX_TOKENS, 20);
        assertEquals(MAX_TOKENS, content.size());
        for (int i = 0; i < MAX_TOKENS; i++) {
            JsonNode token = content.get(i);
            TokenLogprobs e = expected.get(i);
            assertEquals(Set.of("token", "logprob", "bytes", "top_logprobs"), fields(token), "OpenAI's: " + token);
            assertEquals(tokenTexts[choice.get("token_ids").get(i).asInt()], token.get("token").asText(), "token " + i);
            assertBytes(token);
            assertEquals(e.logprob(), token.get("logprob").asDouble(), EXACT, "token " + i);
            JsonNode top = token.get("top_logprobs");
            assertEquals(20, top.size());
            double mass = 0;
            for (int j = 0; j < 20; j++) {
                JsonNode alternative = top.get(j);
                assertEquals(Set.of("token", "logprob", "bytes"), fields(alternative), "OpenAI's: " + alternative);
                assertEquals(tokenTexts[e.topIds()[j]], alternative.get("token").asText(), "token " + i + " alt " + j);
                assertEquals(e.topLogprobs()[j], alternative.get("logprob").asDouble(), EXACT,
                        "token " + i + " alt " + j);
                assertBytes(alternative);
                mass += Math.exp(alternative.get("logprob").asDouble());
            }
            assertEquals(token.get("token").asText(), top.get(0).get("token").asText(), "greedy: top-1 is the token");
            assertEquals(token.get("logprob").asDouble(), top.get(0).get("logprob").asDouble(), 0.0);
            assertTrue(mass <= 1 + 1e-5, "20 of the vocabulary's probabilities sum to at most 1: " + mass);
        }
    }

    @Test
    void completionLogprobsHaveTheLegacyShapeWithTheChosenTokenAmongTheAlternatives() throws Exception {
        JsonNode choice = door.post("/v1/completions", completion(", \"logprobs\": 5", false)).get("choices").get(0);
        JsonNode logprobs = choice.get("logprobs");
        assertEquals(Set.of("tokens", "token_logprobs", "top_logprobs", "text_offset"), fields(logprobs));
        int[] greedy = greedyTokens(PROMPT, MAX_TOKENS);
        List<TokenLogprobs> expected = greedyLogprobs(PROMPT, MAX_TOKENS, 5);
        assertEquals(MAX_TOKENS, logprobs.get("tokens").size());
        for (int i = 0; i < MAX_TOKENS; i++) {
            assertEquals(tokenTexts[greedy[i]], logprobs.get("tokens").get(i).asText());
            assertEquals(expected.get(i).logprob(), logprobs.get("token_logprobs").get(i).asDouble(), EXACT);
            JsonNode top = logprobs.get("top_logprobs").get(i);
            assertTrue(top.size() >= 1 && top.size() <= 6, "5 alternatives, the chosen among them: " + top);
            assertEquals(expected.get(i).topLogprobs()[0], top.get(tokenTexts[expected.get(i).topIds()[0]]).asDouble(),
                    EXACT);
            assertTrue(top.has(tokenTexts[greedy[i]]), "the chosen token is among the alternatives: " + top);
            assertEquals(textBefore(greedy, i).length(), logprobs.get("text_offset").get(i).asInt(),
                    "where token " + i + "'s text starts");
        }
    }

    @Test
    void streamedLogprobsAreTheWholeAnswersInPieces() throws Exception {
        JsonNode whole = door.post("/v1/chat/completions", chat(", \"logprobs\": true, \"top_logprobs\": 3", false));
        ArrayNode streamed = JSON.createArrayNode();
        String asked = ", \"logprobs\": true, \"top_logprobs\": 3";
        for (JsonNode chunk : door.stream("/v1/chat/completions", chat(asked, true))) {
            JsonNode l = chunk.get("choices").get(0).get("logprobs");
            if (l != null && !l.isNull()) streamed.addAll((ArrayNode) l.get("content"));
        }
        assertEquals(whole.get("choices").get(0).get("logprobs").get("content"), streamed);

        JsonNode completion = door.post("/v1/completions", completion(", \"logprobs\": 2", false));
        assertEquals(completion.get("choices").get(0).get("logprobs"), joined(door.stream("/v1/completions",
                completion(", \"logprobs\": 2", true))));
    }

    @Test
    void tokensAStopStringCutsOffAreLeftOutAndHeldBackOnesComeWithTheirText() throws Exception {
        int[] greedy = greedyTokens(PROMPT, MAX_TOKENS);
        String text = decode(greedy);
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        String cut = text.substring(0, text.indexOf(stop));
        int kept = 0; // tokens whose text starts before the stop string
        while (textBefore(greedy, kept).length() < cut.length()) kept++;
        String more = ", \"logprobs\": 1, \"stop\": " + JSON.writeValueAsString(stop);
        JsonNode choice = door.post("/v1/completions", completion(more, false)).get("choices").get(0);
        assertEquals(cut, choice.get("text").asText());
        JsonNode logprobs = choice.get("logprobs");
        assertEquals(kept, logprobs.get("tokens").size(), "the tokens whose text the answer shows: " + logprobs);
        assertTrue(String.join("", texts(logprobs.get("tokens"))).startsWith(cut), logprobs.toString());

        List<JsonNode> chunks = door.stream("/v1/completions", completion(more, true));
        assertEquals(logprobs, joined(chunks));
        int before = 0;
        for (JsonNode chunk : chunks) {
            JsonNode c = chunk.get("choices").get(0);
            int after = before + c.get("text").asText().length();
            // a chunk tells the tokens whose text starts in the text it carries: held back while their text is
            for (JsonNode offset : c.get("logprobs").get("text_offset")) {
                assertTrue(offset.asInt() >= before && offset.asInt() < after, "logprobs come with their text: " + c);
            }
            before = after;
        }
    }

    @Test
    void logprobsAreNullUnlessAskedFor() throws Exception {
        JsonNode chatChoice = door.post("/v1/chat/completions", chat("", false)).get("choices").get(0);
        assertTrue(chatChoice.has("logprobs") && chatChoice.get("logprobs").isNull(), chatChoice.toString());
        JsonNode own = door.post("/v1/chat/completions", chat(", \"logprobs\": true", false)).get("choices").get(0);
        for (JsonNode t : own.get("logprobs").get("content")) assertEquals(0, t.get("top_logprobs").size());
        for (JsonNode chunk : door.stream("/v1/completions", completion("", true))) {
            JsonNode c = chunk.get("choices").get(0);
            assertTrue(c.has("logprobs") && c.get("logprobs").isNull(), c.toString());
        }
    }

    @Test
    void badLogprobsAre400NamingTheField() throws Exception {
        String chat = "/v1/chat/completions";
        door.assertRefused(chat, chat(", \"logprobs\": true, \"top_logprobs\": 21", false), "top_logprobs");
        door.assertRefused(chat, chat(", \"logprobs\": true, \"top_logprobs\": -1", false), "top_logprobs");
        door.assertRefused(chat, chat(", \"top_logprobs\": 2", false), "top_logprobs");
        door.assertRefused(chat, chat(", \"logprobs\": false, \"top_logprobs\": 2", false), "top_logprobs");
        door.assertRefused(chat, chat(", \"logprobs\": 3", false), "logprobs");
        door.assertRefused("/v1/completions", completion(", \"logprobs\": 6", false), "logprobs");
        door.assertRefused("/v1/completions", completion(", \"logprobs\": true", false), "logprobs");
        door.assertRefused("/v1/completions", completion(", \"echo\": true", false), "echo");
    }

    /**
     * The text before token {@code i}: of the tokens before it, up to the last that completed a character (a token
     * that ends inside one, a byte-level piece, adds its text with the token that completes it).
     */
    private static String textBefore(int[] tokens, int i) {
        for (int j = i; j > 0; j--) {
            String text = decode(Arrays.copyOf(tokens, j));
            if (!text.endsWith("\uFFFD")) return text;
        }
        return "";
    }

    private static void assertBytes(JsonNode token) {
        byte[] utf8 = token.get("token").asText().getBytes(StandardCharsets.UTF_8);
        assertEquals(utf8.length, token.get("bytes").size(), token.toString());
        for (int b = 0; b < utf8.length; b++) assertEquals(utf8[b] & 0xff, token.get("bytes").get(b).asInt());
    }

    /** A completion stream's logprobs, their four arrays each joined across the chunks. */
    private static ObjectNode joined(List<JsonNode> chunks) {
        ObjectNode all = JSON.createObjectNode();
        for (String field : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) all.putArray(field);
        for (JsonNode chunk : chunks) {
            JsonNode l = chunk.get("choices").get(0).get("logprobs");
            for (Iterator<String> f = l.fieldNames(); f.hasNext(); ) {
                String field = f.next();
                ((ArrayNode) all.get(field)).addAll((ArrayNode) l.get(field));
            }
        }
        return all;
    }

    private static Set<String> fields(JsonNode node) {
        Set<String> names = new TreeSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(t -> out.add(t.asText()));
        return out;
    }

    /** A greedy completion of {@link #PROMPT}, eos ignored, with more fields ({@code ", \"f\": v"}). */
    private static String completion(String more, boolean stream) {
        return "{\"model\":\"" + NAME + "\",\"prompt\":" + Arrays.toString(PROMPT) + ",\"max_tokens\":" + MAX_TOKENS
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + more + "}";
    }

    /** A greedy chat answer to "Hi", eos ignored, with more fields. */
    private static String chat(String more, boolean stream) {
        return "{\"model\":\"" + NAME + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":"
                + MAX_TOKENS + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + more + "}";
    }
}
