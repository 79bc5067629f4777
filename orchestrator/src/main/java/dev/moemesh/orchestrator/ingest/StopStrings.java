package dev.moemesh.orchestrator.ingest;

import dev.moemesh.core.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Watches one generation's text, token by token, for the first of its request's {@code stop} strings: the tokens
 * so far are decoded (special tokens skipped, as in the {@code text} of a completed event) and searched from a little
 * before the last search's end, so a stop string that spans tokens is found on the token that completes it.
 */
final class StopStrings {
    /** Where the generation stops: the tokens generated up to the one that completed a stop string, and the text before it. */
    record Match(int[] tokenIds, String text) {}

    private final Tokenizer tokenizer;
    private final List<String> stops;
    private final int longest;
    private int[] ids = new int[16];
    private int count;
    private int searched;

    StopStrings(Tokenizer tokenizer, List<String> stops) {
        if (stops.isEmpty()) throw new IllegalArgumentException("no stop strings");
        this.tokenizer = tokenizer;
        this.stops = List.copyOf(stops);
        this.longest = stops.stream().mapToInt(String::length).max().orElseThrow();
    }

    /** Adds the next generated token; the match once the text holds a stop string, else empty. */
    Optional<Match> add(int tokenId) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = tokenId;
        int[] sofar = Arrays.copyOf(ids, count);
        String text = tokenizer.decode(sofar, true);
        int from = Math.max(0, searched - longest);
        int first = -1;
        for (String s : stops) {
            int at = text.indexOf(s, from);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        searched = text.length();
        return first < 0 ? Optional.empty() : Optional.of(new Match(sofar, text.substring(0, first)));
    }
}
