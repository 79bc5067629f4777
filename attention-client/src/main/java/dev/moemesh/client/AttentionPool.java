package dev.moemesh.client;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The attention services requests run on, each with its count of outstanding requests; a request goes to the one
 * with the fewest (ties: the first listed), so load spreads without any service reporting it. The orchestrator and
 * the router share it.
 */
public final class AttentionPool implements AutoCloseable {
    /** One attention service: its address, channel and requests now running there. */
    public static final class Member {
        private final String address;
        private final ManagedChannel channel;
        private int outstanding;

        private Member(String address) {
            this.address = address;
            this.channel = NettyChannelBuilder.forTarget(address).usePlaintext().build();
        }

        public String address() {
            return address;
        }

        public ManagedChannel channel() {
            return channel;
        }
    }

    private final List<Member> members = new ArrayList<>();
    private final ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "attention-retries");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param addresses host:port of each attention service, at least one
     * @param setting   the setting the addresses come from, named when there are none
     */
    public AttentionPool(List<String> addresses, String setting) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no attention services: set " + setting + "=host:port,...");
        }
        for (String a : addresses) members.add(new Member(a.strip()));
    }

    /** The least loaded member, now counting one more request; give it back with {@link #release}. */
    public synchronized Member acquire() {
        Member best = members.get(0);
        for (Member m : members) if (m.outstanding < best.outstanding) best = m;
        best.outstanding++;
        return best;
    }

    public synchronized void release(Member m) {
        m.outstanding--;
    }

    /** Runs {@code call} after {@code delayMillis}, unless the pool is closed by then. */
    public void retryLater(Runnable call, long delayMillis) {
        try {
            retries.schedule(call, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
            // closing: the request is abandoned and served again after the restart
        }
    }

    @Override
    public void close() {
        retries.shutdownNow();
        for (Member m : members) m.channel.shutdownNow();
        for (Member m : members) {
            try {
                m.channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
