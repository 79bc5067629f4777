package dev.moemesh.orchestrator.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.core.tokenizer.TokenizerWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StopStringWatchTest {
    @TempDir static Path dir;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void writeATokenizer() {
        TokenizerWriter.write(dir, 1024);
        tokenizer = Tokenizer.load(dir).orElseThrow();
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /**
     * Where the watch stops is where a whole decode after each token first holds a stop string (what the watch
     * decoded before it read each token's own text): for stop strings all along a generation, multi-byte characters
     * and strings that span tokens among them.
     */
    @Test
    void theWatchStopsOnTheTokenWhoseWholeDecodeFirstHoldsAStopString() {
        int[] generation = tokenizer.encode("The experts route tokens. Le café naïf — 東京 🙂 and the gate; ".repeat(8),
                false);
        String whole = tokenizer.decode(generation, true);
        int checked = 0;
        for (int at = 0; at + 3 <= whole.length(); at += 7) {
            String stop = whole.substring(at, at + 3);
            if (Character.isLowSurrogate(stop.charAt(0)) || Character.isHighSurrogate(stop.charAt(2))) continue;
            StopStringWatch watch = new StopStringWatch(tokenizer, List.of("never-there", stop));
            Optional<StopStringWatch.Match> match = Optional.empty();
            int n = 0;
            while (match.isEmpty() && n < generation.length) match = watch.add(generation[n++]);
            int expected = 1;
            while (!tokenizer.decode(Arrays.copyOf(generation, expected), true).contains(stop)) expected++;
            String text = tokenizer.decode(Arrays.copyOf(generation, expected), true);
            assertTrue(match.isPresent(), "stop " + stop);
            assertArrayEquals(Arrays.copyOf(generation, expected), match.get().tokenIds(), "stop '" + stop + "'");
            assertEquals(text.substring(0, text.indexOf(stop)), match.get().text(), "stop '" + stop + "'");
            checked++;
        }
        assertTrue(checked > 50, "stop strings checked: " + checked);
    }

    @Test
    void aGenerationWithoutTheStopStringIsNeverStopped() {
        StopStringWatch watch = new StopStringWatch(tokenizer, List.of("zebra"));
        for (int id : tokenizer.encode("No striped horses here, 東京 only.".repeat(20), false)) {
            assertTrue(watch.add(id).isEmpty());
        }
    }
}
