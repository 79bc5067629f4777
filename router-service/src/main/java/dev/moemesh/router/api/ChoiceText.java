package dev.moemesh.router.api;

import dev.moemesh.core.tokenizer.StopStrings;
import dev.moemesh.core.tokenizer.TextDeltas;

import java.util.Optional;

/**
 * The text of one choice as its tokens come: what each token lets the client see, which holds back the end that may
 * still become a stop string, and whether a stop string has ended the choice (its text then leaves the stop out).
 */
final class ChoiceText {
    private final TextDeltas deltas;
    private final Optional<StopStrings> stops;
    private final StringBuilder text = new StringBuilder();
    private int shown;   // characters of text the client has been given
    private int searched; // characters of text searched for a stop string
    private boolean stopped;

    ChoiceText(TextDeltas deltas, Optional<StopStrings> stops) {
        this.deltas = deltas;
        this.stops = stops;
    }

    /** The text this token lets the client see now (possibly empty). */
    String add(int tokenId) {
        text.append(deltas.add(tokenId));
        if (stops.isEmpty()) return flush();
        int at = stops.get().find(text, searched);
        searched = text.length();
        if (at >= 0) {
            stopped = true;
            text.setLength(at);
            return flush();
        }
        return show(text.length() - stops.get().heldBack(text));
    }

    /** Whether a stop string ended the text: no more tokens count. */
    boolean stopped() {
        return stopped;
    }

    /** The rest of the text, held back while it might have become a stop string. */
    private String flush() {
        return show(text.length());
    }

    /**
     * The rest of the text once the generation has ended: what was held back for the stop strings, and the end that
     * {@link TextDeltas} held back while more tokens could come (a character whose bytes never completed, say).
     */
    String finish() {
        if (!stopped) text.append(deltas.rest());
        return flush();
    }

    /** Characters of text so far (a stopped choice's without its stop string): where the next token's text starts. */
    int length() {
        return text.length();
    }

    /** Characters of text the client has been given. */
    int shown() {
        return shown;
    }

    /** The whole text so far (a stopped choice's without its stop string). */
    String text() {
        return text.toString();
    }

    private String show(int upTo) {
        if (upTo <= shown) return "";
        String delta = text.substring(shown, upTo);
        shown = upTo;
        return delta;
    }
}
