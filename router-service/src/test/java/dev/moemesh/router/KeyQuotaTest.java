package dev.moemesh.router;

import com.google.rpc.RetryInfo;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.PeerShare;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeyQuotaTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private KeyQuota quota(String... bounds) {
        return new KeyQuota("alice", "keys line 1", KeyLimits.parse(List.of(bounds), "keys line 1"), KeyLimits.NONE,
                Duration.ofSeconds(3), RouterPeers.alone(registry), registry);
    }

    @Test
    void pastItsRateAKeyIsRefusedWithTheWaitUntilItsOldestRequestLeavesTheWindow() throws Exception {
        KeyQuota alice = quota("rate=2/m");

        alice.takeRate("rest");
        alice.takeRate("grpc");
        QuotaRefusal refused = assertThrows(QuotaRefusal.class, () -> alice.takeRate("rest"));

        assertEquals(QuotaRefusal.Reason.RATE, refused.reason());
        assertTrue(refused.retryAfterSeconds() >= 1 && refused.retryAfterSeconds() <= 60, refused.getMessage());
        assertTrue(refused.getMessage().contains("rate of 2/m (keys line 1)"), refused.getMessage());
        StatusRuntimeException grpc = refused.grpc();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, grpc.getStatus().getCode());
        RetryInfo retry = StatusProto.fromThrowable(grpc).getDetails(0).unpack(RetryInfo.class);
        long delayMillis = retry.getRetryDelay().getSeconds() * 1000 + retry.getRetryDelay().getNanos() / 1_000_000;
        assertTrue(delayMillis > 0 && delayMillis <= 60_000, retry.toString());
        assertEquals(1.0, registry.get("moemesh.router.quota.refusals").tags("door", "rest", "key", "alice", "reason",
                "rate").counter().count());
    }

    @Test
    void aGenerationHoldsItsPlaceUntilItsOneEndingAndAllOrNoneOfARequestsPlacesAreTaken() {
        KeyQuota alice = quota("concurrency=2");
        List<GenerationListener> held = List.of(alice.holding(ignored()), alice.holding(ignored()));
        alice.take(2, "rest");
        assertEquals(2.0, registry.get("moemesh.router.key.in.flight").tag("key", "alice").gauge().value());

        QuotaRefusal refused = assertThrows(QuotaRefusal.class, () -> alice.take(1, "grpc"));
        assertEquals(QuotaRefusal.Reason.CONCURRENCY, refused.reason());
        assertEquals(3, refused.retryAfterSeconds(), "router.retry-after");

        held.get(0).failed(Status.CANCELLED, "the client left");
        held.get(0).failed(Status.CANCELLED, "told twice");
        assertEquals(1.0, registry.get("moemesh.router.key.in.flight").tag("key", "alice").gauge().value(),
                "one ending gives one place back");
        assertThrows(QuotaRefusal.class, () -> alice.take(2, "rest"), "a request of n = 2 needs two places");
        alice.take(1, "rest");
        held.get(1).completed(Completion.getDefaultInstance(), "attention-0");
        alice.giveBack(1);
        assertEquals(0.0, registry.get("moemesh.router.key.in.flight").tag("key", "alice").gauge().value());
        assertEquals(2.0, registry.get("moemesh.router.quota.refusals").tag("reason", "concurrency").counters().stream()
                .mapToDouble(c -> c.count()).sum());
    }

    @Test
    void aRequestOverItsKeysSizeOrMaxTokensIsRefusedAsInvalidNotCut() {
        KeyQuota alice = quota("max-tokens=8", "max-body=64");

        assertEquals(8, alice.maxTokens(8L, 16, "max_tokens", "rest"));
        assertEquals(4, alice.maxTokens(null, 4, "max_tokens", "rest"));
        QuotaRefusal tokens = assertThrows(QuotaRefusal.class, () -> alice.maxTokens(9L, 16, "max_tokens", "grpc"));
        QuotaRefusal size = assertThrows(QuotaRefusal.class, () -> alice.checkSize(65, "rest"));

        assertEquals(0, tokens.retryAfterSeconds(), "waiting does not lift it");
        assertEquals(Status.Code.INVALID_ARGUMENT, tokens.grpc().getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, size.grpc().getStatus().getCode());
        assertTrue(size.getMessage().contains("65 bytes is over API key 'alice''s max-body of 64 bytes"),
                size.getMessage());
    }

    @Test
    void routersDivideAKeysConcurrencyAndRateSoThatTogetherTheyAdmitItsBoundsOnce() {
        for (int routers = 1; routers <= 5; routers++) {
            for (int total : new int[] {1, 2, 3, 5, 8, 100}) {
                int sum = 0;
                double rate = 0;
                for (int rank = 0; rank < routers; rank++) {
                    RouterPeers.Share share = new RouterPeers.Share(routers, rank);
                    int part = share.part(total);
                    assertTrue(part == total / routers || part == total / routers + 1, "parts differ by one at most");
                    sum += part;
                    KeyLimits.Rate r = share.part(new KeyLimits.Rate(total, 1, ChronoUnit.SECONDS));
                    assertTrue(r.permits() >= 1, "every router admits some of a key's rate: " + r);
                    rate += (double) r.permits() / r.windows();
                }
                assertEquals(total, sum, total + " places over " + routers + " routers");
                assertTrue(rate <= total + 1e-9 && rate > total / 2.0, total + "/s over " + routers + " routers: " + rate);
                if (total >= routers) assertEquals(total, rate, 1e-9, "a rate of at least one per router is exact");
            }
        }
        assertEquals("1/3s", new RouterPeers.Share(3, 2).part(new KeyLimits.Rate(1, 1, ChronoUnit.SECONDS)).toString());
        assertEquals("2/m", new RouterPeers.Share(3, 0).part(new KeyLimits.Rate(5, 1, ChronoUnit.MINUTES)).toString());
        assertEquals("1/m", new RouterPeers.Share(3, 2).part(new KeyLimits.Rate(5, 1, ChronoUnit.MINUTES)).toString());
    }

    @Test
    void aKeysQuotaFollowsTheRoutersAsTheControlPlaneCountsThem() {
        RouterPeers peers = RouterPeers.alone(registry);
        KeyQuota alice = new KeyQuota("alice", "keys line 1", KeyLimits.parse(List.of("concurrency=3", "rate=4/h"),
                "keys line 1"), KeyLimits.NONE, Duration.ofSeconds(3), peers, registry);
        peers.update(PeerShare.newBuilder().setCount(2).setRank(1).build());
        assertEquals(2.0, registry.get("moemesh.router.peers").gauge().value());

        alice.take(1, "rest");
        QuotaRefusal concurrency = assertThrows(QuotaRefusal.class, () -> alice.take(1, "rest"),
                "router 2 of 2 takes 1 of 3 places");
        assertTrue(concurrency.getMessage().contains("has 1 of 1 (router 2 of 2's part of its 3) generations in flight"),
                concurrency.getMessage());
        alice.takeRate("rest");
        alice.takeRate("grpc");
        QuotaRefusal rate = assertThrows(QuotaRefusal.class, () -> alice.takeRate("rest"), "2 of 4 an hour");
        assertTrue(rate.getMessage().contains("rate of 4/h (keys line 1), of which this router admits 2/h as router 2"
                + " of 2"), rate.getMessage());

        peers.update(PeerShare.newBuilder().setCount(1).setRank(0).build()); // the other router left
        alice.take(2, "grpc");
        assertThrows(QuotaRefusal.class, () -> alice.take(1, "grpc"), "alone, it takes all 3 places");
        for (int i = 0; i < 4; i++) alice.takeRate("rest");
        assertThrows(QuotaRefusal.class, () -> alice.takeRate("rest"), "alone, 4 an hour (a new window)");
    }

    private static GenerationListener ignored() {
        return new GenerationListener() {
            @Override
            public void token(TokenEvent token) {}

            @Override
            public void completed(Completion completion, String attentionService) {}

            @Override
            public void failed(Status status, String message) {}
        };
    }
}
