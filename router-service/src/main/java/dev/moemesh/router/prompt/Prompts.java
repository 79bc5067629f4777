package dev.moemesh.router.prompt;

import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.ChatPrompt;
import dev.moemesh.core.tokenizer.TextDeltas;
import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.List;
import java.util.Optional;

/**
 * The served model's name, tokenizer and limits: turns a request's prompt (text, token ids or chat messages) into
 * token ids and generated ids into text, and refuses a wrong model, an empty or over-long prompt, an out-of-range
 * {@code max_tokens}, and text where the checkpoint has no tokenizer.
 */
public final class Prompts implements AutoCloseable {
    private final String modelName;
    private final Optional<Tokenizer> tokenizer; // empty: a checkpoint without tokenizer.json, served by token ids
    private final int maxPromptTokens;
    private final int maxTokens;
    // (vocab) each token's own text once decoded: logprobs name up to 21 tokens per generated one. A race decodes a
    // token twice, to the same immutable String, which the array publishes safely (String's fields are final).
    private final String[] tokenTexts;

    public Prompts(String modelName, Optional<Tokenizer> tokenizer, int maxPromptTokens, int maxTokens) {
        this.modelName = modelName;
        this.tokenizer = tokenizer;
        this.maxPromptTokens = maxPromptTokens;
        this.maxTokens = maxTokens;
        this.tokenTexts = new String[tokenizer.map(Tokenizer::vocabSize).orElse(0)];
    }

    public String modelName() {
        return modelName;
    }

    /** The generated ids as text; empty without a tokenizer (the answer's token ids carry the generation). */
    public String decode(int[] ids) {
        return tokenizer.map(t -> t.decode(ids, true)).orElse("");
    }

    /** A generation's text as its tokens come; none without a tokenizer. */
    public TextDeltas textDeltas() {
        return tokenizer.map(TextDeltas::new).orElseGet(TextDeltas::none);
    }

    /**
     * One token's own text, special tokens included (a piece of a character decodes to U+FFFD, as in vLLM); without
     * a tokenizer vLLM's {@code token_id:<id>}.
     */
    public String tokenText(int id) {
        if (id >= 0 && id < tokenTexts.length) {
            String text = tokenTexts[id];
            if (text == null) tokenTexts[id] = text = tokenizer.orElseThrow().decode(new int[] {id}, false);
            return text;
        }
        return tokenizer.map(t -> t.decode(new int[] {id}, false)).orElse("token_id:" + id);
    }

    /** Whether the checkpoint has a tokenizer, so prompts may be text and answers have text. */
    public boolean readsText() {
        return tokenizer.isPresent();
    }

    /** The largest {@code max_tokens} a request may ask for ({@code router.max-tokens}). */
    public int maxTokens() {
        return maxTokens;
    }

    public void checkModel(String model) {
        if (model == null || model.isEmpty()) throw InvalidRequest.of("model", "model is required: send \""
                + modelName + "\"");
        if (!model.equals(modelName)) {
            throw new InvalidRequest("model", InvalidRequest.MODEL_NOT_FOUND, "The model '" + model
                    + "' does not exist; this router serves '" + modelName + "' (GET /v1/models)");
        }
    }

    /** Text encoded with the tokenizer's special tokens (BOS). */
    public int[] text(String text, String field) {
        if (text.isEmpty()) throw InvalidRequest.of(field, field + " must not be empty");
        return limited(tokenizer(field).encode(text, true), field);
    }

    public int[] tokenIds(int[] ids, String field) {
        if (ids.length == 0) throw InvalidRequest.of(field, field + " must not be empty");
        return limited(ids, field);
    }

    /** Messages rendered by the checkpoint's chat template, with the generation prompt. */
    public int[] chat(List<ChatMessage> messages, String field) {
        if (messages.isEmpty()) throw InvalidRequest.of(field, field + " must be a non-empty list of {role, content}");
        Tokenizer tokenizer = tokenizer(field);
        int[] ids;
        try {
            ids = ChatPrompt.encode(tokenizer, messages);
        } catch (IllegalStateException e) {
            throw InvalidRequest.of(field, "model '" + modelName + "' has no chat template; send a prompt instead");
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.of(field, e.getMessage());
        }
        return limited(ids, field);
    }

    public int checkMaxTokens(long requested, String field) {
        if (requested < 1 || requested > maxTokens) {
            throw InvalidRequest.of(field, field + " must be an integer from 1 to " + maxTokens + " (router.max-tokens),"
                    + " got " + requested);
        }
        return (int) requested;
    }

    private Tokenizer tokenizer(String field) {
        return tokenizer.orElseThrow(() -> InvalidRequest.of(field, "model '" + modelName + "' has no tokenizer.json,"
                + " so " + field + " cannot be text: send the prompt as token ids"));
    }

    @Override
    public void close() {
        tokenizer.ifPresent(Tokenizer::close);
    }

    private int[] limited(int[] ids, String field) {
        if (ids.length > maxPromptTokens) {
            throw new InvalidRequest(field, InvalidRequest.CONTEXT_LENGTH_EXCEEDED, field + " is " + ids.length
                    + " tokens, over this router's limit of " + maxPromptTokens + " (router.max-prompt-tokens)");
        }
        return ids;
    }
}
