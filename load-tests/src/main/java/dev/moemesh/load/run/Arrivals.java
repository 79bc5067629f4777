package dev.moemesh.load.run;

import java.util.random.RandomGenerator;

/**
 * When requests are sent. Open loop ({@link Poisson}, {@link FixedRate}): on a schedule fixed in advance, whatever the
 * server does, and every latency is counted from the scheduled time, so a slow server cannot hide its queue
 * (no coordinated omission). Closed loop ({@link Closed}): N clients, each sending its next request when its last
 * one ended.
 */
public sealed interface Arrivals {
    /** Requests per second offered (open loop), or NaN (closed loop). */
    double offeredRate();

    /** Open loop: the gap to the next request. */
    sealed interface Open extends Arrivals {
        long nextGapNanos(RandomGenerator rng);
    }

    /** Exponential gaps of mean 1/rate: independent users. */
    record Poisson(double perSecond) implements Open {
        public Poisson {
            if (!(perSecond > 0)) throw new IllegalArgumentException("a rate must be > 0 requests/s, got " + perSecond);
        }

        @Override
        public long nextGapNanos(RandomGenerator rng) {
            return (long) (-Math.log(1 - rng.nextDouble()) / perSecond * 1e9);
        }

        @Override
        public double offeredRate() {
            return perSecond;
        }

        @Override
        public String toString() {
            return "poisson:" + fmt(perSecond);
        }
    }

    /** Evenly spaced. */
    record FixedRate(double perSecond) implements Open {
        public FixedRate {
            if (!(perSecond > 0)) throw new IllegalArgumentException("a rate must be > 0 requests/s, got " + perSecond);
        }

        @Override
        public long nextGapNanos(RandomGenerator rng) {
            return (long) (1e9 / perSecond);
        }

        @Override
        public double offeredRate() {
            return perSecond;
        }

        @Override
        public String toString() {
            return "fixed:" + fmt(perSecond);
        }
    }

    /** N clients, each with one request outstanding. */
    record Closed(int clients) implements Arrivals {
        public Closed {
            if (clients < 1) throw new IllegalArgumentException("a closed loop needs at least 1 client, got " + clients);
        }

        @Override
        public double offeredRate() {
            return Double.NaN;
        }

        @Override
        public String toString() {
            return "closed:" + clients;
        }
    }

    /** The same kind of arrivals at another rate (closed loops stay as they are). */
    default Arrivals atRate(double perSecond) {
        return switch (this) {
            case Poisson p -> new Poisson(perSecond);
            case FixedRate f -> new FixedRate(perSecond);
            case Closed c -> c;
        };
    }

    /** {@code poisson:RATE}, {@code fixed:RATE} or {@code closed:CLIENTS}. */
    static Arrivals parse(String spec) {
        String[] kv = spec.strip().split(":", 2);
        if (kv.length != 2) throw new IllegalArgumentException("arrivals are poisson:RATE, fixed:RATE or closed:CLIENTS, got '" + spec + "'");
        try {
            return switch (kv[0]) {
                case "poisson" -> new Poisson(Double.parseDouble(kv[1]));
                case "fixed" -> new FixedRate(Double.parseDouble(kv[1]));
                case "closed" -> new Closed(Integer.parseInt(kv[1]));
                default -> throw new IllegalArgumentException("arrivals are poisson:RATE, fixed:RATE or closed:CLIENTS, got '" + spec + "'");
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("arrivals are poisson:RATE, fixed:RATE or closed:CLIENTS, got '" + spec + "'");
        }
    }

    private static String fmt(double rate) {
        return java.math.BigDecimal.valueOf(Math.round(rate * 100) / 100.0).stripTrailingZeros().toPlainString();
    }
}
