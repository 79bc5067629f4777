package dev.moemesh.router.api;

import dev.moemesh.router.prompt.Prompts;

import java.util.Arrays;

/**
 * Turns a generation's tokens, one at a time, into the text each adds; a token that ends inside a character (a
 * byte-level piece of a UTF-8 sequence) adds nothing until the character is complete.
 */
final class TextDeltas {
    private final Prompts prompts;
    private int[] ids = new int[16];
    private int count;
    private String sent = "";
    private String last; // the whole text at the last token, when it could not be told yet

    TextDeltas(Prompts prompts) {
        this.prompts = prompts;
    }

    /** The text the token adds (possibly empty). */
    String add(int tokenId) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        String text = prompts.decode(Arrays.copyOf(ids, count));
        // decoding is over the whole sequence, so a later token may complete (or re-merge) earlier bytes
        if (text.endsWith("\uFFFD") || !text.startsWith(sent)) {
            last = text;
            return "";
        }
        last = null;
        String delta = text.substring(sent.length());
        sent = text;
        return delta;
    }

    /** The text of the tokens not yet told, once no more come (it may end in an unfinished character). */
    String rest() {
        return last != null && last.startsWith(sent) ? last.substring(sent.length()) : "";
    }
}
