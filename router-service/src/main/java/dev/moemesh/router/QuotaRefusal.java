package dev.moemesh.router;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.rpc.Code;
import com.google.rpc.RetryInfo;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;

import java.util.Locale;

/** A request its API key's quota refuses ({@link KeyQuota}), told the way each door tells it. */
public final class QuotaRefusal extends RuntimeException {
    /** Which bound; its name is the {@code reason} of {@code moemesh_router_quota_refusals_total}. */
    public enum Reason {
        RATE, CONCURRENCY, SIZE, MAX_TOKENS;

        public String tag() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Worth sending again later (429 / {@code RESOURCE_EXHAUSTED}), unlike a request too big for its key. */
        public boolean isLoad() {
            return this == RATE || this == CONCURRENCY;
        }
    }

    private final Reason reason;
    private final long retryAfterMillis;

    QuotaRefusal(Reason reason, String message, long retryAfterMillis) {
        super(message, null, false, false);
        this.reason = reason;
        this.retryAfterMillis = retryAfterMillis;
    }

    public Reason reason() {
        return reason;
    }

    /** Whole seconds, at least 1, for an HTTP {@code Retry-After}; 0 for a refusal that waiting does not lift. */
    public long retryAfterSeconds() {
        return reason.isLoad() ? Math.max(1, (retryAfterMillis + 999) / 1000) : 0;
    }

    /**
     * {@code RESOURCE_EXHAUSTED} with the delay as {@code google.rpc.RetryInfo} in the status details (what
     * {@code StatusProto.fromThrowable} gives a grpc-java client), or {@code INVALID_ARGUMENT}.
     */
    public StatusRuntimeException grpc() {
        com.google.rpc.Status.Builder status = com.google.rpc.Status.newBuilder().setMessage(getMessage());
        if (!reason.isLoad()) return StatusProto.toStatusRuntimeException(status.setCode(Code.INVALID_ARGUMENT_VALUE).build());
        Duration delay = Duration.newBuilder().setSeconds(retryAfterMillis / 1000)
                .setNanos((int) (retryAfterMillis % 1000) * 1_000_000).build();
        return StatusProto.toStatusRuntimeException(status.setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .addDetails(Any.pack(RetryInfo.newBuilder().setRetryDelay(delay).build())).build());
    }
}
