package dev.moemesh.orchestrator.control;

import org.jboss.logging.Logger;

import java.time.Clock;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/** The versioned stream of placements: the one published last, when, and its watchers, each told every version once. */
public final class PlacementStream {
    private static final Logger LOG = Logger.getLogger(PlacementStream.class);

    private final Clock clock;
    private final Set<Subscription> subscriptions = ConcurrentHashMap.newKeySet();
    private volatile PublishedPlacement published;
    private volatile Instant publishedAt;

    PlacementStream(PublishedPlacement first, Clock clock) {
        this.clock = clock;
        this.published = first;
        this.publishedAt = clock.instant();
    }

    /** The placement published last (version 0 before the first). */
    PublishedPlacement current() {
        return published;
    }

    Instant publishedAt() {
        return publishedAt;
    }

    /** Makes {@code next} the current placement and tells every watcher. */
    void publish(PublishedPlacement next) {
        published = next;
        publishedAt = clock.instant();
        subscriptions.forEach(s -> s.deliver(next));
    }

    /** Calls {@code listener} with the current placement at once, then with each new version, in order, once each. */
    Subscription subscribe(Consumer<PublishedPlacement> listener) {
        return subscribe(listener, why -> {});
    }

    /** As above; {@code ended} hears why, once, when {@link #endAll} ends the subscription. */
    Subscription subscribe(Consumer<PublishedPlacement> listener, Consumer<RuntimeException> ended) {
        Subscription s = new Subscription(listener, ended);
        subscriptions.add(s);
        s.deliver(published);
        return s;
    }

    /**
     * Ends every subscription, telling each why, and forgets the placement published last: a control plane that stands
     * by publishes afresh when it leads again, newer than whatever another leader published meanwhile.
     */
    void endAll(RuntimeException why, PublishedPlacement none) {
        published = none;
        publishedAt = clock.instant();
        endAll(why);
    }

    /** Ends every subscription, telling each why (this control plane stands by: its watchers go elsewhere). */
    private void endAll(RuntimeException why) {
        for (Subscription s : subscriptions) {
            s.close();
            s.ended.accept(why);
        }
    }

    /** A watcher's registration; closing it stops the calls. */
    public final class Subscription implements AutoCloseable {
        private final Consumer<PublishedPlacement> listener;
        private final Consumer<RuntimeException> ended;
        private long delivered = -1;

        private Subscription(Consumer<PublishedPlacement> listener, Consumer<RuntimeException> ended) {
            this.listener = listener;
            this.ended = ended;
        }

        private synchronized void deliver(PublishedPlacement p) {
            if (p.version() <= delivered) return; // the watch's first delivery and a publication can cross
            delivered = p.version();
            try {
                listener.accept(p);
            } catch (RuntimeException e) {
                LOG.debugf("a placement watcher is gone (%s)", e.getMessage());
                close();
            }
        }

        @Override
        public void close() {
            subscriptions.remove(this);
        }
    }
}
