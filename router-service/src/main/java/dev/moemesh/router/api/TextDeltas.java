package dev.moemesh.router.api;

import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.Arrays;

/**
 * Turns a generation's tokens, one at a time, into the text each adds; a token that ends inside a character (a
 * byte-level piece of a UTF-8 sequence) adds nothing until the character is complete.
 */
final class TextDeltas {
    private final Tokenizer tokenizer;
    private int[] ids = new int[16];
    private int count;
    private String sent = "";

    TextDeltas(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** The text the token adds (possibly empty). */
    String add(int tokenId) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        String text = tokenizer.decode(Arrays.copyOf(ids, count), true);
        // decoding is over the whole sequence, so a later token may complete (or re-merge) earlier bytes
        if (text.endsWith("\uFFFD") || !text.startsWith(sent)) return "";
        String delta = text.substring(sent.length());
        sent = text;
        return delta;
    }
}
