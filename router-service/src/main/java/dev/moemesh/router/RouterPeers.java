package dev.moemesh.router;

import dev.moemesh.proto.PeerShare;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.jboss.logging.Logger;

import java.time.temporal.ChronoUnit;

/**
 * The routers this one shares each API key's bounds with, as the control plane counts them ({@code router.control-plane};
 * without one, or until it answers, this router is alone and each key's bounds are its own). A key's concurrency
 * {@code c} is divided exactly: the router of rank {@code r} among {@code n} takes {@code c / n}, plus one when
 * {@code r < c % n}, so the routers together admit {@code c}; a rate of {@code p} per window likewise while
 * {@code p >= n}, and below that each router admits one per {@code ceil(n / p)} windows, never more than the key's
 * rate together. Metric {@code moemesh_router_peers}.
 */
public final class RouterPeers {
    private static final Logger LOG = Logger.getLogger(RouterPeers.class);

    /** {@code count} routers, this one the {@code rank}-th (0-based) by instance id. */
    public record Share(int count, int rank) {
        public static final Share ALONE = new Share(1, 0);

        public Share {
            if (count < 1 || rank < 0 || rank >= count) {
                throw new IllegalArgumentException("rank " + rank + " of " + count + " routers");
            }
        }

        /** This router's part of a bound of {@code total}, the parts of all {@code count} routers adding up to it. */
        public int part(int total) {
            return total / count + (rank < total % count ? 1 : 0);
        }

        /** This router's part of a rate: its part of the permits per window, or one per several windows. */
        public KeyLimits.Rate part(KeyLimits.Rate rate) {
            if (rate.permits() >= count) return new KeyLimits.Rate(part(rate.permits()), rate.windows(), rate.window());
            long stretch = rate.windows() * (long) Math.ceilDiv(count, rate.permits());
            return new KeyLimits.Rate(1, Math.toIntExact(stretch), rate.window());
        }

        @Override
        public String toString() {
            return count == 1 ? "the only router" : "router " + (rank + 1) + " of " + count;
        }
    }

    private volatile Share share = Share.ALONE;

    public RouterPeers(MeterRegistry registry) {
        Gauge.builder("moemesh.router.peers", this, p -> p.share.count())
                .description("routers sharing each API key's rate and concurrency, this one included").register(registry);
    }

    /** A router that counts itself alone (no control plane). */
    public static RouterPeers alone(MeterRegistry registry) {
        return new RouterPeers(registry);
    }

    public Share share() {
        return share;
    }

    /** What the control plane answered last; a change is logged once. */
    public void update(PeerShare peers) {
        Share next = new Share(Math.max(1, peers.getCount()), Math.min(peers.getRank(), Math.max(1, peers.getCount()) - 1));
        if (next.equals(share)) return;
        Share before = share;
        share = next;
        LOG.infof(next.count() == 1 ? "this router is now %s (was %s): it admits the whole of each API key's rate and"
                + " concurrency" : "this router is now %s (was %s): each API key's rate and concurrency are divided"
                + " among the routers", next, before);
    }
}
