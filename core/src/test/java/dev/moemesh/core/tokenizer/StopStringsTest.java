package dev.moemesh.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import java.util.List;

class StopStringsTest {
    @Test
    void theEarliestStopStringWinsWhicheverIsListedFirst() {
        StopStrings stops = new StopStrings(List.of("world", "lo"));
        assertEquals(3, stops.find("hello world", 0));
        assertEquals(-1, stops.find("help", 0));
    }

    @Test
    void aStopStringSpanningTheLastSearchIsFoundAndAnEarlierOneIsNotSearchedAgain() {
        StopStrings stops = new StopStrings(List.of("END"));
        assertEquals(4, stops.find("abcdEND", 5)); // "EN" was there at the last search, "D" came now
        assertEquals(-1, stops.find("END.......", 9));
    }

    @Test
    void aGrowingStringBuilderIsSearchedAndHeldBackAsItsString() {
        StopStrings stops = new StopStrings(List.of("END", "</s>"));
        StringBuilder text = new StringBuilder("abcdEN");
        assertEquals(-1, stops.find(text, 0));
        assertEquals(2, stops.heldBack(text));
        text.append("D and more");
        assertEquals(4, stops.find(text, 6), "found where it starts in the whole text, not in the end searched");
        assertEquals(1, stops.heldBack(new StringBuilder("x<")));
        assertEquals(-1, stops.find(text, 40), "a search past the text's end finds nothing");
    }

    @Test
    void theTextsEndThatMayStillBecomeAStopStringIsHeldBack() {
        StopStrings stops = new StopStrings(List.of("</s>", "\n\n"));
        assertEquals(2, stops.heldBack("answer</"));
        assertEquals(1, stops.heldBack("line\n"));
        assertEquals(0, stops.heldBack("plain"));
        assertEquals(0, stops.heldBack(""));
        assertEquals(3, new StopStrings(List.of("abab")).heldBack("xaba")); // the longest start counts, not the first
    }

    @Test
    void noOrAnEmptyStopStringIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new StopStrings(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new StopStrings(List.of("a", "")));
    }
}
