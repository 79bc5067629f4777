package dev.moemesh.router.schedule;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The attention services generations run on, each with its count of outstanding requests; a request goes to the one
 * with the fewest (ties: the first listed), so load spreads without any service reporting it.
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

    /** @param addresses host:port of each attention service, at least one */
    public AttentionPool(List<String> addresses) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no attention services: set router.attention-services=host:port,...");
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

    @Override
    public void close() {
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
