package dev.moemesh.load.workload;

import java.util.random.RandomGenerator;

/** How many tokens a prompt or an answer has: always the same, or uniform in a range. */
public sealed interface Lengths {
    int sample(RandomGenerator rng);

    /** {@code n} tokens every time. */
    record Fixed(int tokens) implements Lengths {
        public Fixed {
            if (tokens < 1) throw new IllegalArgumentException("a length must be at least 1 token, got " + tokens);
        }

        @Override
        public int sample(RandomGenerator rng) {
            return tokens;
        }

        @Override
        public String toString() {
            return "fixed:" + tokens;
        }
    }

    /** Uniform in {@code [min, max]}. */
    record Uniform(int min, int max) implements Lengths {
        public Uniform {
            if (min < 1 || max < min) throw new IllegalArgumentException("uniform lengths need 1 <= min <= max, got "
                    + min + "-" + max);
        }

        @Override
        public int sample(RandomGenerator rng) {
            return rng.nextInt(min, max + 1);
        }

        @Override
        public String toString() {
            return "uniform:" + min + "-" + max;
        }
    }

    /** {@code fixed:N}, {@code uniform:MIN-MAX}, or a bare number (fixed). */
    static Lengths parse(String spec) {
        String s = spec.strip();
        try {
            if (s.startsWith("uniform:")) {
                String[] range = s.substring("uniform:".length()).split("-", 2);
                if (range.length != 2) throw new IllegalArgumentException("uniform lengths are uniform:MIN-MAX, got " + s);
                return new Uniform(Integer.parseInt(range[0].strip()), Integer.parseInt(range[1].strip()));
            }
            return new Fixed(Integer.parseInt(s.startsWith("fixed:") ? s.substring("fixed:".length()) : s));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("lengths are fixed:N or uniform:MIN-MAX, got '" + spec + "'");
        }
    }
}
