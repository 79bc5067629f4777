package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.proto.TokenLogprobs;
import dev.moemesh.router.prompt.Prompts;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The log-probabilities of one choice's tokens in OpenAI's shape, a chat's ({@code content[]}) or a completion's
 * ({@code tokens}, {@code token_logprobs}, {@code top_logprobs}, {@code text_offset}), each token told with its
 * text: a token whose text is held back (a possible stop string, a character not yet complete) waits for it, and a
 * token whose text a stop string cut off is never told.
 */
final class ChoiceLogprobs {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    /** A token, its log-probabilities, and where its text starts in the choice's text. */
    private record Entry(int tokenId, TokenLogprobs logprobs, int offset) {}

    private final boolean chat;
    private final Prompts prompts;
    private final List<Entry> entries = new ArrayList<>();
    private int told; // entries already in a chunk

    ChoiceLogprobs(boolean chat, Prompts prompts) {
        this.chat = chat;
        this.prompts = prompts;
    }

    /** A token whose text starts at character {@code offset} of the choice's text. */
    void add(int tokenId, TokenLogprobs logprobs, int offset) {
        entries.add(new Entry(tokenId, logprobs, offset));
    }

    /** The tokens not yet told whose text starts before character {@code shown}: those the client now sees. */
    ObjectNode tell(int shown) {
        int from = told;
        while (told < entries.size() && entries.get(told).offset() < shown) told++;
        return json(entries.subList(from, told));
    }

    /** Every token not yet told once the choice has ended with {@code length} characters (stopped: cut there). */
    ObjectNode rest(boolean stopped, int length) {
        return tell(stopped ? length : Integer.MAX_VALUE);
    }

    private ObjectNode json(List<Entry> list) {
        return chat ? chatJson(list) : completionJson(list);
    }

    /** {@code {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}}: k alternatives each. */
    private ObjectNode chatJson(List<Entry> list) {
        ObjectNode body = JSON.objectNode();
        ArrayNode content = body.putArray("content");
        for (Entry e : list) {
            ObjectNode token = described(content.addObject(), e.tokenId(), e.logprobs().getLogprob());
            ArrayNode top = token.putArray("top_logprobs");
            for (int j = 0; j < e.logprobs().getTopTokenIdsCount(); j++) {
                described(top.addObject(), e.logprobs().getTopTokenIds(j), e.logprobs().getTopLogprobs(j));
            }
        }
        return body;
    }

    private ObjectNode described(ObjectNode node, int tokenId, float logprob) {
        String text = prompts.tokenText(tokenId);
        node.put("token", text).put("logprob", logprob);
        ArrayNode bytes = node.putArray("bytes");
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) bytes.add(b & 0xff);
        return node;
    }

    /**
     * {@code {tokens, token_logprobs, top_logprobs, text_offset}}: each position's alternatives as {token: logprob},
     * the chosen token among them as OpenAI's legacy API has it (so up to k + 1).
     */
    private ObjectNode completionJson(List<Entry> list) {
        ObjectNode body = JSON.objectNode();
        ArrayNode tokens = body.putArray("tokens");
        ArrayNode logprobs = body.putArray("token_logprobs");
        ArrayNode tops = body.putArray("top_logprobs");
        ArrayNode offsets = body.putArray("text_offset");
        for (Entry e : list) {
            String text = prompts.tokenText(e.tokenId());
            tokens.add(text);
            logprobs.add(e.logprobs().getLogprob());
            ObjectNode top = tops.addObject();
            for (int j = 0; j < e.logprobs().getTopTokenIdsCount(); j++) {
                String alternative = prompts.tokenText(e.logprobs().getTopTokenIds(j));
                if (!top.has(alternative)) top.put(alternative, e.logprobs().getTopLogprobs(j)); // texts may repeat
            }
            if (!top.has(text)) top.put(text, e.logprobs().getLogprob());
            offsets.add(e.offset());
        }
        return body;
    }
}
