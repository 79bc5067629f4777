package dev.moemesh.orchestrator.ingest;

import dev.moemesh.core.tokenizer.StopStrings;
import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Watches one generation's text, token by token, for the first of its request's {@code stop} strings: the tokens
 * so far are decoded (special tokens skipped, as in the {@code text} of a completed event) and searched with
 * {@link StopStrings} (the search the REST door makes too) from a little before the last search's end, so a stop
 * string that spans tokens is found on the token that completes it. Each token decodes the whole generation again:
 * quadratic in its length, cheap at chat lengths.
 */
final class StopStringWatch {
    /** Where the generation stops: the tokens generated up to the one that completed a stop string, and the text before it. */
    record Match(int[] tokenIds, String text) {}

    private final Tokenizer tokenizer;
    private final StopStrings stops;
    private int[] ids = new int[16];
    private int count;
    private int searched;

    StopStringWatch(Tokenizer tokenizer, List<String> stops) {
        this.tokenizer = tokenizer;
        this.stops = new StopStrings(stops);
    }

    /** Adds the next generated token; the match once the text holds a stop string, else empty. */
    Optional<Match> add(int tokenId) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        int[] sofar = Arrays.copyOf(ids, count);
        String text = tokenizer.decode(sofar, true);
        int first = stops.find(text, searched);
        searched = text.length();
        return first < 0 ? Optional.empty() : Optional.of(new Match(sofar, text.substring(0, first)));
    }
}
