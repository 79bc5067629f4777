package dev.moemesh.router;

import io.quarkus.runtime.configuration.MemorySize;
import io.quarkus.runtime.configuration.MemorySizeConverter;

import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * What one API key may ask of the doors; an empty bound leaves only the router's own ({@code router.max-tokens},
 * {@code quarkus.http.limits.max-body-size}, {@code router.max-in-flight}).
 *
 * @param rate         requests admitted per window
 * @param concurrency  generations in flight at once (a request of {@code n} choices holds {@code n})
 * @param maxTokens    the largest {@code max_tokens} a request may ask for
 * @param maxBodyBytes the largest request: a REST body or a gRPC message, in bytes
 */
public record KeyLimits(Optional<Rate> rate, OptionalInt concurrency, OptionalInt maxTokens, OptionalLong maxBodyBytes) {
    public static final KeyLimits NONE = new KeyLimits(Optional.empty(), OptionalInt.empty(), OptionalInt.empty(),
            OptionalLong.empty());

    /**
     * {@code permits} requests per {@code windows} of {@code window}: {@code rate=<n>/<s|m|h>} is one window; a
     * router's part of a rate shared with others may span several ({@link RouterPeers.Share#part(Rate)}).
     */
    public record Rate(int permits, int windows, ChronoUnit window) {
        static Rate parse(String value, String where) {
            int slash = value.indexOf('/');
            ChronoUnit window = slash < 0 ? null : switch (value.substring(slash + 1)) {
                case "s" -> ChronoUnit.SECONDS;
                case "m" -> ChronoUnit.MINUTES;
                case "h" -> ChronoUnit.HOURS;
                default -> null;
            };
            String permits = slash < 0 ? "" : value.substring(0, slash);
            if (window == null || !permits.matches("[1-9][0-9]{0,8}")) {
                throw new IllegalArgumentException(where + ": rate must be <n>/s, <n>/m or <n>/h (n from 1), got '"
                        + value + "'");
            }
            return new Rate(Integer.parseInt(permits), 1, window);
        }

        @Override
        public String toString() {
            return permits + "/" + (windows == 1 ? "" : String.valueOf(windows)) + switch (window) {
                case SECONDS -> "s";
                case MINUTES -> "m";
                default -> "h";
            };
        }
    }

    /**
     * The options after a key-file line's hash, each {@code name=value}: {@code rate=<n>/<s|m|h>},
     * {@code concurrency=<n>}, {@code max-tokens=<n>}, {@code max-body=<bytes, or with K or M>}.
     */
    static KeyLimits parse(List<String> options, String where) {
        Optional<Rate> rate = Optional.empty();
        OptionalInt concurrency = OptionalInt.empty();
        OptionalInt maxTokens = OptionalInt.empty();
        OptionalLong maxBody = OptionalLong.empty();
        for (String option : options) {
            int eq = option.indexOf('=');
            String name = eq < 0 ? option : option.substring(0, eq);
            String value = eq < 0 ? "" : option.substring(eq + 1);
            switch (name) {
                case "rate" -> rate = Optional.of(Rate.parse(value, where));
                case "concurrency" -> concurrency = OptionalInt.of(positive(value, name, where));
                case "max-tokens" -> maxTokens = OptionalInt.of(positive(value, name, where));
                case "max-body" -> maxBody = OptionalLong.of(bytes(value, where));
                default -> throw new IllegalArgumentException(where + ": unknown option '" + option + "' (rate=<n>/s,"
                        + " concurrency=<n>, max-tokens=<n>, max-body=<bytes|64K|1M>)");
            }
        }
        return new KeyLimits(rate, concurrency, maxTokens, maxBody);
    }

    /** {@code router.key-defaults.*}: the bounds of keys whose line sets none. */
    static KeyLimits defaults(RouterSettings.KeyDefaults d) {
        String where = "router.key-defaults";
        return new KeyLimits(d.rate().map(r -> Rate.parse(r, where + ".rate")), d.concurrency(), d.maxTokens(),
                d.maxBody().map(m -> OptionalLong.of(m.asLongValue())).orElse(OptionalLong.empty()));
    }

    /** Each bound this key leaves unset taken from {@code defaults}. */
    KeyLimits or(KeyLimits defaults) {
        return new KeyLimits(rate.or(defaults::rate), concurrency.isPresent() ? concurrency : defaults.concurrency,
                maxTokens.isPresent() ? maxTokens : defaults.maxTokens,
                maxBodyBytes.isPresent() ? maxBodyBytes : defaults.maxBodyBytes);
    }

    private static int positive(String value, String name, String where) {
        try {
            int n = Integer.parseInt(value);
            if (n >= 1) return n;
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException(where + ": " + name + " must be a whole number from 1, got '" + value + "'");
    }

    private static long bytes(String value, String where) {
        try {
            MemorySize size = new MemorySizeConverter().convert(value);
            if (size != null && size.asLongValue() >= 1) return size.asLongValue();
        } catch (IllegalArgumentException e) {
            // said below
        }
        throw new IllegalArgumentException(where + ": max-body must be bytes, or with K or M (64K, 1M), got '" + value
                + "'");
    }
}
