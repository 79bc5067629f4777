package dev.moemesh.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionPoolTest {
    private static final List<String> THREE = List.of("attention-0:9200", "attention-1:9200", "attention-2:9200");

    @Test
    void aPromptPrefixAlwaysPrefersTheSameServiceAndPrefixesSpreadOverAll() {
        try (AttentionPool pool = new AttentionPool(THREE, "test")) {
            Map<String, Integer> chosen = new HashMap<>();
            Random random = new Random(7);
            for (int i = 0; i < 600; i++) {
                List<Integer> prompt = prompt(random, 80);
                String first = takeAndGiveBack(pool, prompt);
                assertEquals(first, takeAndGiveBack(pool, prompt), "the same prompt, the same service");
                chosen.merge(first, 1, Integer::sum);
            }
            for (String a : THREE) {
                int n = chosen.getOrDefault(a, 0);
                assertTrue(n > 150 && n < 250, a + " preferred by " + n + " of 600 prefixes: " + chosen);
            }
        }
    }

    @Test
    void onlyTheLeadingTokensDecide() {
        try (AttentionPool pool = new AttentionPool(THREE, "test")) {
            Random random = new Random(11);
            int differentTails = 0;
            for (int i = 0; i < 50; i++) {
                List<Integer> shared = prompt(random, AttentionPool.AFFINITY_TOKENS);
                List<Integer> a = new ArrayList<>(shared);
                List<Integer> b = new ArrayList<>(shared);
                a.addAll(prompt(random, 30));
                b.addAll(prompt(random, 5));
                assertEquals(takeAndGiveBack(pool, a), takeAndGiveBack(pool, b));
                if (!takeAndGiveBack(pool, a.subList(0, 10)).equals(takeAndGiveBack(pool, a))) differentTails++;
            }
            assertTrue(differentTails > 10, "shorter prefixes hash differently: " + differentTails + " of 50");
        }
    }

    @Test
    void aPreferredServiceBusierThanTheLeastLoadedBeyondTheSlackIsPassedOver() {
        try (AttentionPool pool = new AttentionPool(THREE, "test")) {
            List<Integer> prompt = prompt(new Random(3), 20);
            AttentionPool.Member preferred = pool.acquire(prompt);
            for (int i = 0; i < AttentionPool.AFFINITY_SLACK; i++) assertEquals(preferred, pool.acquire(prompt));
            AttentionPool.Member next = pool.acquire(prompt);
            assertNotEquals(preferred, next, "5 outstanding against 0: the least loaded takes it");
            pool.release(next);
            pool.release(preferred);
            assertEquals(preferred, pool.acquire(prompt), "back within the slack: the preferred one again");
        }
    }

    @Test
    void removingAServiceMovesOnlyThePrefixesThatPreferredIt() {
        try (AttentionPool three = new AttentionPool(THREE, "test");
             AttentionPool two = new AttentionPool(THREE.subList(0, 2), "test")) {
            Random random = new Random(5);
            for (int i = 0; i < 300; i++) {
                List<Integer> prompt = prompt(random, 40);
                String before = takeAndGiveBack(three, prompt);
                if (!before.equals(THREE.get(2))) assertEquals(before, takeAndGiveBack(two, prompt));
            }
        }
    }

    private static String takeAndGiveBack(AttentionPool pool, List<Integer> prompt) {
        AttentionPool.Member m = pool.acquire(prompt);
        pool.release(m);
        return m.address();
    }

    private static List<Integer> prompt(Random random, int length) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < length; i++) ids.add(random.nextInt(32000));
        return ids;
    }
}
