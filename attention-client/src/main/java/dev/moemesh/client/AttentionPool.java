package dev.moemesh.client;

import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.smallrye.faulttolerance.api.TypedGuard;
import jakarta.enterprise.util.TypeLiteral;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The attention services requests run on, each with its count of outstanding requests. A request goes to the
 * service its prompt prefix prefers (rendezvous hashing of the first {@value #AFFINITY_TOKENS} prompt tokens over
 * the addresses) unless that one has more than {@value #AFFINITY_SLACK} requests beyond the least loaded; then to
 * the least loaded (ties: the first listed). Requests sharing a prefix (a system prompt, a few-shot preamble, a
 * conversation's earlier turns) so meet on one service, where a prefix cache can serve them (none exists yet),
 * without any service reporting its load. A service whose connection is failing is passed over while another is
 * not, and a generation run again avoids the services it failed on ({@link GenerationRetry}). The orchestrator and
 * the router share it.
 */
public final class AttentionPool implements AutoCloseable {
    /** One attention service: its address, channel and requests now running there. */
    public static final class Member {
        private final String address;
        private final ManagedChannel channel;
        private final long addressHash;
        private int outstanding;

        private Member(String address, MeshChannels channels) {
            this.address = address;
            this.addressHash = mix(address.hashCode());
            this.channel = channels.forTarget(address, MeshRole.ATTENTION).build();
        }

        public String address() {
            return address;
        }

        public ManagedChannel channel() {
            return channel;
        }
    }

    /** How many leading prompt tokens decide the preferred service. */
    static final int AFFINITY_TOKENS = 64;
    /** How many more outstanding requests than the least loaded service the preferred one may have. */
    static final int AFFINITY_SLACK = 4;

    private final List<Member> members = new ArrayList<>();
    private final TypedGuard<CompletionStage<AttentionCall.Ending>> retryGuard;
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
        this(addresses, setting, GenerationRetry.DEFAULT);
    }

    /**
     * @param addresses host:port of each attention service, at least one
     * @param setting   the setting the addresses come from, named when there are none
     * @param retry     how a generation the mesh failed runs again
     */
    public AttentionPool(List<String> addresses, String setting, GenerationRetry retry) {
        this(addresses, setting, retry, MeshChannels.PLAINTEXT);
    }

    /** As {@link #AttentionPool(List, String, GenerationRetry)}, over {@code channels}: plaintext or mutual TLS. */
    public AttentionPool(List<String> addresses, String setting, GenerationRetry retry, MeshChannels channels) {
        this.retryGuard = retry.guard(new TypeLiteral<CompletionStage<AttentionCall.Ending>>() {});
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no attention services: set " + setting + "=host:port,...");
        }
        for (String a : addresses) members.add(new Member(a.strip(), channels));
    }

    /** The member for a prompt (see the class comment), now counting one more request; give it back with {@link #release}. */
    public Member acquire(List<Integer> promptIds) {
        return acquire(promptIds, List.of());
    }

    /**
     * The member for a prompt as {@link #acquire(List)} chooses, among those not in {@code avoid} (a generation's
     * services that failed it) and not failing to connect, where any is left; else among all.
     */
    public synchronized Member acquire(List<Integer> promptIds, Collection<Member> avoid) {
        List<Member> candidates = new ArrayList<>(members.size());
        for (Member m : members) if (!avoid.contains(m) && !failingToConnect(m)) candidates.add(m);
        if (candidates.isEmpty()) for (Member m : members) if (!avoid.contains(m)) candidates.add(m);
        if (candidates.isEmpty()) candidates = members;
        Member least = candidates.get(0);
        for (Member m : candidates) if (m.outstanding < least.outstanding) least = m;
        Member preferred = preferred(promptIds, candidates);
        Member chosen = preferred.outstanding <= least.outstanding + AFFINITY_SLACK ? preferred : least;
        chosen.outstanding++;
        return chosen;
    }

    /** The member with the highest rendezvous weight for the prompt's prefix: stable as members come and go. */
    private static Member preferred(List<Integer> promptIds, List<Member> candidates) {
        long prefix = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < Math.min(AFFINITY_TOKENS, promptIds.size()); i++) prefix = mix(prefix + promptIds.get(i));
        Member best = candidates.get(0);
        long bestWeight = Long.MIN_VALUE;
        for (Member m : candidates) {
            long weight = mix(prefix ^ m.addressHash);
            if (weight > bestWeight) {
                best = m;
                bestWeight = weight;
            }
        }
        return best;
    }

    /** Whether the member's channel is failing to connect (a dead or unreachable service). */
    private static boolean failingToConnect(Member m) {
        return m.channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE;
    }

    /** The guard every generation's runs go through: {@link GenerationRetry} in SmallRye Fault Tolerance. */
    TypedGuard<CompletionStage<AttentionCall.Ending>> retryGuard() {
        return retryGuard;
    }

    /** SplitMix64's finaliser: every input bit moves every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
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
