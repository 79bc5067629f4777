package dev.moemesh.router;

import com.google.rpc.RetryInfo;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeyQuotaTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private KeyQuota quota(String... bounds) {
        return new KeyQuota("alice", "keys line 1", KeyLimits.parse(List.of(bounds), "keys line 1"), KeyLimits.NONE,
                Duration.ofSeconds(3), registry);
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
