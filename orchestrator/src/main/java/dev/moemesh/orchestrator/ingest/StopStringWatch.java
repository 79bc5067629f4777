package dev.moemesh.orchestrator.ingest;

import dev.moemesh.core.tokenizer.StopStrings;
import dev.moemesh.core.tokenizer.TextDeltas;
import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Watches one generation's text, token by token, for the first of its request's {@code stop} strings: each token's
 * text ({@link TextDeltas}, special tokens skipped, as in the {@code text} of a completed event) is added and the
 * text's end searched with {@link StopStrings} (the search the REST door makes too), so a stop string that spans
 * tokens is found on the token that completes it, and each token costs its own text, not the generation's.
 */
final class StopStringWatch {
    /** Where the generation stops: the tokens generated up to the one that completed a stop string, and the text before it. */
    record Match(int[] tokenIds, String text) {}

    private final TextDeltas deltas;
    private final StopStrings stops;
    private final StringBuilder text = new StringBuilder();
    private int[] ids = new int[16];
    private int count;
    private int searched; // characters of text (with the unfinished end) at the last search

    StopStringWatch(Tokenizer tokenizer, List<String> stops) {
        this.deltas = new TextDeltas(tokenizer);
        this.stops = new StopStrings(stops);
    }

    /** Adds the next generated token; the match once the text holds a stop string, else empty. */
    Optional<Match> add(int tokenId) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        text.append(deltas.add(tokenId));
        int told = text.length();
        // the text as a whole decode has it, an unfinished character's U+FFFD included, as the search always read it
        text.append(deltas.rest());
        int first = stops.find(text, searched);
        searched = text.length();
        Optional<Match> match = first < 0 ? Optional.empty()
                : Optional.of(new Match(Arrays.copyOf(ids, count), text.substring(0, first)));
        text.setLength(told);
        return match;
    }
}
