package dev.moemesh.tls;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;

import java.util.List;

/**
 * Puts the caller's OpenTelemetry trace context ({@code traceparent}, {@code tracestate}) on the headers of every call
 * of a channel {@link MeshChannels} builds: those are plain grpc-netty channels, which Quarkus does not instrument.
 */
public final class MeshTraceContext implements ClientInterceptor {
    public static final MeshTraceContext INSTANCE = new MeshTraceContext();

    private static final TextMapSetter<Metadata> HEADERS = (headers, key, value) ->
            headers.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);

    private static final String TRACEPARENT = "traceparent";
    private static final TextMapSetter<String[]> ONE_HEADER = (into, key, value) -> {
        if (key.equals(TRACEPARENT)) into[0] = value;
    };
    private static final TextMapGetter<String> FROM_ONE_HEADER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(String traceparent) {
            return List.of(TRACEPARENT);
        }

        @Override
        public String get(String traceparent, String key) {
            return key.equals(TRACEPARENT) ? traceparent : null;
        }
    };

    private MeshTraceContext() {
    }

    /**
     * The W3C {@code traceparent} of the calling thread's span, empty when it has none: for a message on a stream,
     * whose headers are sent once, with its first message.
     */
    public static String traceparent() {
        Context current = Context.current();
        if (!Span.fromContext(current).getSpanContext().isValid()) return "";
        String[] header = {""};
        W3CTraceContextPropagator.getInstance().inject(current, header, ONE_HEADER);
        return header[0];
    }

    /** The remote parent a {@link #traceparent} names; the root when it is empty or malformed. */
    public static Context parent(String traceparent) {
        if (traceparent.isEmpty()) return Context.root();
        return W3CTraceContextPropagator.getInstance().extract(Context.root(), traceparent, FROM_ONE_HEADER);
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        // read on the caller's thread: start may run elsewhere (a retry, a stream opened by the transport)
        Context caller = Context.current();
        ClientCall<Q, R> call = next.newCall(method, options);
        if (!Span.fromContext(caller).getSpanContext().isValid()) return call; // no trace (tracing off): nothing added
        return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                W3CTraceContextPropagator.getInstance().inject(caller, headers, HEADERS);
                super.start(listener, headers);
            }
        };
    }
}
