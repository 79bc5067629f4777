package dev.moemesh.core.tokenizer;

import java.util.List;

/**
 * A request's {@code stop} strings, searched for in a generation's text as it grows: where the first one starts
 * (the text ends there), and how much of the text's end might still become one (a stream holds that back).
 */
public final class StopStrings {
    private final List<String> stops;
    private final int longest;

    public StopStrings(List<String> stops) {
        if (stops.isEmpty() || stops.stream().anyMatch(String::isEmpty)) {
            throw new IllegalArgumentException("stop strings must be one or more non-empty strings, got " + stops);
        }
        this.stops = List.copyOf(stops);
        this.longest = stops.stream().mapToInt(String::length).max().orElseThrow();
    }

    /**
     * Where the earliest stop string in {@code text} starts, or -1. Only a match that ends past {@code searched}
     * (the text's length at the last search, which found none) is looked for, so a search reads (and copies) only
     * the text's end: what came since, and the longest stop string's length before it.
     */
    public int find(CharSequence text, int searched) {
        int from = Math.min(Math.max(0, searched - longest + 1), text.length());
        String end = text.subSequence(from, text.length()).toString();
        int first = -1;
        for (String s : stops) {
            int at = end.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first < 0 ? -1 : from + first;
    }

    /** How many characters at the end of {@code text} are the start of a stop string, so may still become one. */
    public int heldBack(CharSequence text) {
        int held = 0;
        for (String s : stops) {
            for (int n = Math.min(s.length() - 1, text.length()); n > held; n--) {
                if (endsWithStartOf(text, s, n)) {
                    held = n;
                    break;
                }
            }
        }
        return held;
    }

    /** Whether the last {@code n} characters of {@code text} are the first {@code n} of {@code stop}. */
    private static boolean endsWithStartOf(CharSequence text, String stop, int n) {
        int at = text.length() - n;
        for (int i = 0; i < n; i++) {
            if (text.charAt(at + i) != stop.charAt(i)) return false;
        }
        return true;
    }
}
