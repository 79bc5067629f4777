package dev.moemesh.bench;

import dev.moemesh.core.tokenizer.StopStrings;
import dev.moemesh.core.tokenizer.TextDeltas;
import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.core.tokenizer.TokenizerWriter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * What watching a generation for a {@code stop} string costs per token, as the Kafka door's {@code StopStringWatch}
 * did it (the whole generation decoded again at each token) and as it does now ({@link TextDeltas}: each token's own
 * text, and the text's end searched), alternated round by round, at several generation lengths. The tokenizer is
 * the byte-level BPE of the test checkpoints (DeepSeek's kind, 2,048 tokens); the stop string never comes, so every
 * token is watched.
 *
 * <p>Arguments: rounds (default 7), then lengths in tokens (default 100 1000 4000). Prints each round, then medians.
 */
public final class StopStringCost {
    private static final List<String> STOPS = List.of("<|never|>", "\n\nUser:");

    private StopStringCost() {}

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int[] lengths = args.length > 1 ? Arrays.stream(args, 1, args.length).mapToInt(Integer::parseInt).toArray()
                : new int[] {100, 1000, 4000};
        Path dir = Files.createTempDirectory("moemesh-stop-cost");
        TokenizerWriter.write(dir, 2048);
        try (Tokenizer tokenizer = Tokenizer.load(dir).orElseThrow()) {
            int[] generation = generation(tokenizer, Arrays.stream(lengths).max().orElseThrow());
            System.out.printf("generation: %d tokens, %d characters%n", generation.length,
                    tokenizer.decode(generation, true).length());
            for (int r = 0; r < 3; r++) { // warm-up
                wholeDecodes(tokenizer, generation, 1000);
                deltas(tokenizer, generation, 1000);
            }
            System.out.println("tokens | whole decode per token, us [min-max] | TextDeltas per token, us [min-max] | ratio");
            for (int length : lengths) {
                double[][] us = new double[2][rounds];
                for (int r = 0; r < rounds; r++) {
                    for (int a = 0; a < 2; a++) {
                        int which = (r & 1) == 0 ? a : 1 - a;
                        long t0 = System.nanoTime();
                        int found = which == 0 ? wholeDecodes(tokenizer, generation, length)
                                : deltas(tokenizer, generation, length);
                        us[which][r] = (System.nanoTime() - t0) / 1e3 / length;
                        if (found >= 0) throw new IllegalStateException("a stop string was found at " + found);
                    }
                }
                System.out.printf("%d | %s | %s | %.1f%n", length, summary(us[0]), summary(us[1]),
                        median(us[0]) / median(us[1]));
            }
        }
    }

    /** The watch before: each token decodes the whole generation so far and searches it from the last search's end. */
    private static int wholeDecodes(Tokenizer tokenizer, int[] generation, int length) {
        StopStrings stops = new StopStrings(STOPS);
        int searched = 0;
        for (int n = 1; n <= length; n++) {
            String text = tokenizer.decode(Arrays.copyOf(generation, n), true);
            int at = stops.find(text, searched);
            if (at >= 0) return at;
            searched = text.length();
        }
        return -1;
    }

    /** The watch now: each token adds its own text (and the unfinished character's), and the text's end is searched. */
    private static int deltas(Tokenizer tokenizer, int[] generation, int length) {
        StopStrings stops = new StopStrings(STOPS);
        TextDeltas deltas = new TextDeltas(tokenizer);
        StringBuilder text = new StringBuilder();
        int searched = 0;
        for (int n = 0; n < length; n++) {
            text.append(deltas.add(generation[n]));
            int told = text.length();
            text.append(deltas.rest());
            int at = stops.find(text, searched);
            if (at >= 0) return at;
            searched = text.length();
            text.setLength(told);
        }
        return -1;
    }

    /** English prose with some multi-byte characters, as token ids, {@code length} of them. */
    private static int[] generation(Tokenizer tokenizer, int length) throws IOException {
        String prose;
        try (InputStream in = TokenizerWriter.class.getResourceAsStream("bpe-training-text.txt")) {
            prose = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        StringBuilder text = new StringBuilder();
        int[] ids = new int[0];
        while (ids.length < length) {
            text.append(prose).append(" naïve café — 東京 🙂 ");
            ids = tokenizer.encode(text.toString(), false);
        }
        return Arrays.copyOf(ids, length);
    }

    private static String summary(double[] us) {
        return String.format("%.1f [%.1f-%.1f]", median(us), Arrays.stream(us).min().orElseThrow(),
                Arrays.stream(us).max().orElseThrow());
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
