package dev.moemesh.core.tokenizer;

import java.util.Arrays;

/**
 * Turns a generation's tokens, one at a time, into the text each adds, special tokens skipped: together the texts
 * are the whole generation's {@link Tokenizer#decode decode}, but each token costs the decoding of a few tokens, not
 * of all before it. A token that ends inside a character (a byte-level piece of a UTF-8 sequence) adds nothing until
 * the character is complete.
 */
public final class TextDeltas {
    private final Tokenizer tokenizer; // null: a checkpoint without one, whose generations have no text
    private int[] ids = new int[16]; // (count) the generation's tokens, special ones left out
    private int count;
    // The text is told up to token readFrom; the tokens from prefixFrom to readFrom are decoded again with the new
    // ones, as vLLM's incremental detokenizer does, so a decoder that depends on what precedes a token (one that
    // drops the first token's leading space) reads each new token after the same tokens as in a whole decode.
    private int prefixFrom;
    private int readFrom;
    private String prefix = "";  // decode(ids[prefixFrom, readFrom))
    private String pending = ""; // the text of ids[readFrom, count) as a whole decode has it now, not yet told

    public TextDeltas(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Deltas for a checkpoint without a tokenizer (served by token ids): every token adds no text. */
    public static TextDeltas none() {
        return new TextDeltas(null);
    }

    /** The text the token adds (possibly empty). */
    public String add(int tokenId) {
        if (tokenizer == null || tokenizer.isSpecial(tokenId)) return "";
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        String text = tokenizer.decode(Arrays.copyOfRange(ids, prefixFrom, count), true);
        String added = text.length() > prefix.length() ? text.substring(prefix.length()) : "";
        // an unfinished character decodes to U+FFFD: wait for the bytes that finish it
        if (added.isEmpty() || added.endsWith("\uFFFD")) {
            pending = added;
            return "";
        }
        pending = "";
        prefixFrom = readFrom;
        readFrom = count;
        prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixFrom, readFrom), true);
        return added;
    }

    /**
     * The text of the tokens not yet told: what a whole decode of the generation so far ends with beyond the text
     * told (an unfinished character as U+FFFD); the rest of the text once no more tokens come.
     */
    public String rest() {
        return pending;
    }
}
