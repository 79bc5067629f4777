package dev.moemesh.core.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns byte-level BPE merges from a text, deterministically: the most frequent adjacent pair wins,
 * ties go to the lexicographically smallest pair.
 */
final class BytePairTrainer {

    /** One learned merge: the two symbols that are joined, left then right. */
    record Merge(String left, String right) {
        String merged() {
            return left + right;
        }
    }

    /** What training produced: the merges in the order learned, and the tokens they created. */
    record Result(List<Merge> merges, List<String> tokens) {}

    /** The pre-tokenizer split of HF's ByteLevel(use_regex=true), so merges never cross a word. */
    private static final Pattern WORDS =
            Pattern.compile(
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private BytePairTrainer() {}

    /**
     * Merges until {@code newTokens} tokens not in {@code alphabet} have been created.
     *
     * @throws IllegalArgumentException when the text has no pairs left before that many tokens exist
     */
    static Result train(String text, List<String> alphabet, int newTokens) {
        Map<List<String>, Integer> words = countWords(text);
        Set<String> known = new HashSet<>(alphabet);
        List<Merge> merges = new ArrayList<>();
        List<String> created = new ArrayList<>();
        while (created.size() < newTokens) {
            Merge best = mostFrequentPair(words);
            if (best == null) {
                throw new IllegalArgumentException(
                        "Training text yields only " + created.size() + " merged tokens, " + newTokens + " were asked for");
            }
            merges.add(best);
            if (known.add(best.merged())) {
                created.add(best.merged());
            }
            words = applyMerge(words, best);
        }
        return new Result(merges, created);
    }

    private static Map<List<String>, Integer> countWords(String text) {
        Map<List<String>, Integer> words = new LinkedHashMap<>();
        Matcher matcher = WORDS.matcher(text);
        while (matcher.find()) {
            words.merge(ByteLevelAlphabet.symbols(matcher.group()), 1, Integer::sum);
        }
        return words;
    }

    private static Merge mostFrequentPair(Map<List<String>, Integer> words) {
        Map<Merge, Integer> counts = new HashMap<>();
        words.forEach(
                (symbols, count) -> {
                    for (int i = 0; i + 1 < symbols.size(); i++) {
                        counts.merge(new Merge(symbols.get(i), symbols.get(i + 1)), count, Integer::sum);
                    }
                });
        Comparator<Map.Entry<Merge, Integer>> byCountThenPair =
                Map.Entry.<Merge, Integer>comparingByValue()
                        .reversed()
                        .thenComparing(e -> e.getKey().left())
                        .thenComparing(e -> e.getKey().right());
        return counts.entrySet().stream().min(byCountThenPair).map(Map.Entry::getKey).orElse(null);
    }

    private static Map<List<String>, Integer> applyMerge(Map<List<String>, Integer> words, Merge merge) {
        Map<List<String>, Integer> merged = new LinkedHashMap<>();
        words.forEach(
                (symbols, count) -> {
                    List<String> out = new ArrayList<>(symbols.size());
                    for (int i = 0; i < symbols.size(); i++) {
                        if (i + 1 < symbols.size()
                                && symbols.get(i).equals(merge.left())
                                && symbols.get(i + 1).equals(merge.right())) {
                            out.add(merge.merged());
                            i++;
                        } else {
                            out.add(symbols.get(i));
                        }
                    }
                    merged.merge(out, count, Integer::sum);
                });
        return merged;
    }
}
