package dev.moemesh.router;

import dev.moemesh.client.GenerationListener;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.faulttolerance.api.Guard;
import io.smallrye.faulttolerance.api.RateLimitException;
import io.smallrye.faulttolerance.api.RateLimitType;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One API key's quota, shared by both doors: its rate (a SmallRye Fault Tolerance rate limit, rolling window), its
 * generations in flight, and its size and {@code max_tokens} bounds. With other routers ({@link RouterPeers}) this one
 * admits its part of the key's rate and concurrency, so that together they admit the key's bounds, not one each. A
 * refusal throws {@link QuotaRefusal}, counted in {@code moemesh_router_quota_refusals_total{door,key,reason}} and
 * logged at most once a second per key.
 */
public final class KeyQuota {
    private static final Logger LOG = Logger.getLogger(KeyQuota.class);
    private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String name;
    private final String where;
    private final KeyLimits own;
    private final KeyLimits limits;
    private final Duration retryAfter;
    private final MeterRegistry registry;
    private final RouterPeers peers;
    private final AtomicReference<RateGuard> rate; // holds null: no rate of its own
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong nextLog = new AtomicLong(System.nanoTime());
    private final AtomicLong unlogged = new AtomicLong();

    /**
     * @param name       the key's name (in metrics and logs; never the key)
     * @param where      where the key is set, named in refusals of the bounds its own line sets
     * @param own        the bounds set for this key
     * @param defaults   {@code router.key-defaults.*}, for those it does not set
     * @param retryAfter what a key over its concurrency is told to wait ({@code router.retry-after})
     * @param peers      the routers this one shares the key's rate and concurrency with
     */
    KeyQuota(String name, String where, KeyLimits own, KeyLimits defaults, Duration retryAfter, RouterPeers peers,
             MeterRegistry registry) {
        this.name = name;
        this.where = where;
        this.own = own;
        this.limits = own.or(defaults);
        this.retryAfter = retryAfter;
        this.peers = peers;
        this.registry = registry;
        this.rate = new AtomicReference<>(limits.rate().map(r -> rateGuard(r, peers.share())).orElse(null));
        Gauge.builder("moemesh.router.key.in.flight", inFlight, AtomicInteger::get).tag("key", name)
                .description("generations in flight per API key (a request of n choices runs n)").register(registry);
    }

    /** A quota without bounds: the doors' when no API key is set. */
    public static KeyQuota unbounded(MeterRegistry registry) {
        return new KeyQuota("(open door)", "no API keys", KeyLimits.NONE, KeyLimits.NONE, Duration.ofSeconds(1),
                RouterPeers.alone(registry), registry);
    }

    /** The rate guard of one share of the routers: a new share gets a new guard (and an empty window). */
    private record RateGuard(RouterPeers.Share share, KeyLimits.Rate part, Guard guard) {}

    private RateGuard rateGuard(KeyLimits.Rate rate, RouterPeers.Share share) {
        KeyLimits.Rate part = share.part(rate);
        return new RateGuard(share, part, Guard.create().withDescription("rate of API key " + name).withRateLimit()
                .limit(part.permits()).window(part.windows(), part.window()).type(RateLimitType.ROLLING).done().build());
    }

    public String name() {
        return name;
    }

    /** Admits one more request at {@code door} within the key's rate, or refuses it with the wait until the next. */
    public void takeRate(String door) {
        RateGuard current = rate.get();
        if (current == null) return;
        RouterPeers.Share share = peers.share();
        while (!share.equals(current.share())) {
            // one guard per share: requests that see a new share at once must not each count in a guard of their own
            RateGuard fresh = rateGuard(limits.rate().orElseThrow(), share);
            if (rate.compareAndSet(current, fresh)) {
                current = fresh;
            } else {
                current = rate.get();
            }
        }
        try {
            current.guard().get(() -> Boolean.TRUE, Boolean.class);
        } catch (RateLimitException e) {
            long millis = Math.max(1, e.getRetryAfterMillis());
            throw refused(door, new QuotaRefusal(QuotaRefusal.Reason.RATE, "API key '" + name + "' is over its rate of "
                    + limits.rate().orElseThrow() + " (" + source(own.rate().isPresent(), "rate") + ")"
                    + sharedAs(current.part().toString(), current.share()) + "; retry after " + millis + " ms", millis));
        }
    }

    /** How this router's part reads in a refusal, when it shares the key with others. */
    private static String sharedAs(String part, RouterPeers.Share share) {
        return share.count() == 1 ? "" : ", of which this router admits " + part + " as " + share;
    }

    /** Refuses a request of {@code bytes} over the key's {@code max-body}. */
    public void checkSize(long bytes, String door) {
        long max = limits.maxBodyBytes().orElse(Long.MAX_VALUE);
        if (bytes > max) {
            throw refused(door, new QuotaRefusal(QuotaRefusal.Reason.SIZE, "the request of " + bytes + " bytes is over"
                    + " API key '" + name + "''s max-body of " + max + " bytes (" + source(own.maxBodyBytes().isPresent(),
                    "max-body") + ")", 0));
        }
    }

    /**
     * The {@code max_tokens} of a request that asks for {@code requested} (null: says nothing, and gets
     * {@code otherwise} or the key's bound, the smaller): one over the key's bound is refused, never cut.
     */
    public int maxTokens(Long requested, int otherwise, String field, String door) {
        int max = limits.maxTokens().orElse(Integer.MAX_VALUE);
        if (requested == null) return Math.min(otherwise, max);
        if (requested > max) {
            throw refused(door, new QuotaRefusal(QuotaRefusal.Reason.MAX_TOKENS, field + " " + requested + " is over API"
                    + " key '" + name + "''s max-tokens of " + max + " (" + source(own.maxTokens().isPresent(),
                    "max-tokens") + "); ask for at most " + max, 0));
        }
        return requested.intValue();
    }

    /** Takes {@code generations} places of the key's concurrency, all or none; a refusal throws. */
    public void take(int generations, String door) {
        if (limits.concurrency().isEmpty()) {
            inFlight.addAndGet(generations);
            return;
        }
        RouterPeers.Share share = peers.share();
        int capacity = share.part(limits.concurrency().getAsInt());
        int held;
        do {
            held = inFlight.get();
            if (held + generations > capacity) {
                String of = share.count() == 1 ? "its " + capacity : capacity + " (" + share + "'s part of its "
                        + limits.concurrency().getAsInt() + ")";
                throw refused(door, new QuotaRefusal(QuotaRefusal.Reason.CONCURRENCY, "API key '" + name + "' has "
                        + held + " of " + of + " generations in flight and asked for " + generations + " more ("
                        + source(own.concurrency().isPresent(), "concurrency") + "); retry after "
                        + retryAfter.toMillis() + " ms", retryAfter.toMillis()));
            }
        } while (!inFlight.compareAndSet(held, held + generations));
    }

    /** Gives back places taken that no generation will hold. */
    public void giveBack(int generations) {
        inFlight.addAndGet(-generations);
    }

    /** {@code listener}, holding one place taken until its one ending (whichever: done, failed or cancelled). */
    public GenerationListener holding(GenerationListener listener) {
        AtomicBoolean held = new AtomicBoolean(true);
        return new GenerationListener() {

            @Override
            public void token(TokenEvent token) {
                listener.token(token); // whole: with its logprobs
            }

            @Override
            public void completed(Completion completion, String attentionService) {
                if (held.getAndSet(false)) inFlight.decrementAndGet();
                listener.completed(completion, attentionService);
            }

            @Override
            public void failed(Status status, String message) {
                if (held.getAndSet(false)) inFlight.decrementAndGet();
                listener.failed(status, message);
            }

            @Override
            public void ranAgain(String why) {
                listener.ranAgain(why);
            }
        };
    }

    private String source(boolean ownLine, String bound) {
        return ownLine ? where : "router.key-defaults." + bound;
    }

    private QuotaRefusal refused(String door, QuotaRefusal refusal) {
        Counter.builder("moemesh.router.quota.refusals").description("requests refused by their API key's quota")
                .tag("door", door).tag("key", name).tag("reason", refusal.reason().tag()).register(registry).increment();
        // under a flood, one line a second per key: the counter has the number
        long now = System.nanoTime();
        long next = nextLog.get();
        if (now - next >= 0 && nextLog.compareAndSet(next, now + LOG_EVERY_NANOS)) {
            long more = unlogged.getAndSet(0);
            LOG.infof("refused a %s request: %s%s", door, refusal.getMessage(),
                    more == 0 ? "" : " (and " + more + " more refusals of this key since the last such line)");
        } else {
            unlogged.incrementAndGet();
        }
        return refusal;
    }
}
