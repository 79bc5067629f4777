package dev.moemesh.load.workload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

class WorkloadTest {
    @Test
    void theSameSeedMakesTheSameRequestsWithinTheDistributions() {
        Workload w = Workload.of(Lengths.parse("uniform:4-9"), Lengths.parse("fixed:16"), 512).withSeed(42);
        Workload.Source a = w.source("a");
        Workload.Source b = w.source("b");
        for (int i = 0; i < 200; i++) {
            LoadRequest x = a.next();
            LoadRequest y = b.next();
            assertArrayEquals(x.promptIds(), y.promptIds());
            assertTrue(x.promptIds().length >= 4 && x.promptIds().length <= 9, "prompt length " + x.promptIds().length);
            assertEquals(16, x.maxTokens());
            for (int t : x.promptIds()) assertTrue(t >= 1 && t < 512, "token id " + t);
            assertEquals("a-" + i, x.id());
        }
    }

    @Test
    void distinctRequestsAreRepeatedAtRandomUnderNewIds() {
        Workload w = Workload.of(Lengths.parse("uniform:4-9"), Lengths.parse("uniform:2-8"), 512).withDistinct(3);
        Workload.Source s = w.source("c");
        List<LoadRequest> pool = s.distinctRequests();
        assertEquals(3, pool.size());
        Set<Integer> drawn = new HashSet<>();
        for (int i = 0; i < 60; i++) {
            LoadRequest r = s.next();
            assertEquals("c-" + i, r.id());
            int match = -1;
            for (int p = 0; p < pool.size(); p++) {
                if (Arrays.equals(pool.get(p).promptIds(), r.promptIds())
                        && pool.get(p).maxTokens() == r.maxTokens()) match = p;
            }
            assertTrue(match >= 0, "request " + i + " is none of the distinct ones");
            drawn.add(match);
        }
        assertEquals(3, drawn.size(), "all three drawn in 60");
        List<LoadRequest> again = w.source("other").distinctRequests();
        for (int p = 0; p < pool.size(); p++) {
            assertArrayEquals(pool.get(p).promptIds(), again.get(p).promptIds(), "the same seed, the same requests");
            assertEquals(pool.get(p).maxTokens(), again.get(p).maxTokens());
        }
        assertTrue(Workload.of(Lengths.parse("fixed:4"), Lengths.parse("fixed:4"), 512).source("n").distinctRequests()
                .isEmpty());
    }

    @Test
    void hotTokensLimitThePromptsToThatManyIds() {
        Workload.Source s = Workload.of(new Lengths.Fixed(32), new Lengths.Fixed(4), 512).withHotTokens(4).source("h");
        Set<Integer> ids = new HashSet<>();
        for (int i = 0; i < 100; i++) for (int t : s.next().promptIds()) ids.add(t);
        assertTrue(ids.size() <= 4, "ids used: " + ids);
    }

    @Test
    void aTraceGivesItsSizesInOrderAndABadLineIsNamed(@TempDir Path dir) throws Exception {
        Path trace = dir.resolve("trace.csv");
        Files.writeString(trace, "# prompt,output\n12,3\n\n40, 7\n");
        List<Shape> shapes = Workload.readTrace(trace);
        assertEquals(List.of(new Shape(12, 3), new Shape(40, 7)), shapes);
        Workload.Source s = Workload.of(new Lengths.Fixed(1), new Lengths.Fixed(1), 512).withTrace(shapes).source("t");
        assertEquals(12, s.next().promptIds().length);
        assertEquals(7, s.next().maxTokens());
        assertEquals(3, s.next().maxTokens(), "the trace repeats");

        Files.writeString(trace, "12,3\n12;x\n");
        var e = assertThrows(IllegalArgumentException.class, () -> Workload.readTrace(trace));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void lengthSpecsParseAndBadOnesAreRefused() {
        assertEquals(new Lengths.Fixed(8), Lengths.parse("8"));
        assertEquals(new Lengths.Uniform(2, 5), Lengths.parse("uniform:2-5"));
        assertThrows(IllegalArgumentException.class, () -> Lengths.parse("uniform:5-2"));
        assertThrows(IllegalArgumentException.class, () -> Lengths.parse("normal:3"));
    }
}
