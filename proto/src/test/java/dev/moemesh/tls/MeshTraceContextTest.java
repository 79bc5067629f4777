package dev.moemesh.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The caller's trace context on the calls of a channel {@link MeshChannels} builds, as a real gRPC server receives
 * them, and in a stream message's {@code traceparent}.
 */
class MeshTraceContextTest {
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String SPAN_ID = "00f067aa0ba902b7";
    private static final Metadata.Key<String> TRACEPARENT =
            Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
    private static final AtomicReference<Metadata> received = new AtomicReference<>();

    private static Server server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws IOException {
        ServerInterceptor headers = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata metadata,
                                                              ServerCallHandler<Q, R> next) {
                received.set(metadata);
                return next.startCall(call, metadata);
            }
        };
        server = NettyServerBuilder.forPort(0).addService(ServerInterceptors.intercept(
                new ExpertServiceGrpc.ExpertServiceImplBase() {
                    @Override
                    public void describe(DescribeRequest request, StreamObserver<DescribeResponse> out) {
                        out.onNext(DescribeResponse.getDefaultInstance());
                        out.onCompleted();
                    }
                }, headers)).build().start();
        channel = MeshChannels.PLAINTEXT.forTarget("localhost:" + server.getPort(), MeshRole.EXPERT).build();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static Span sampledSpan() {
        return Span.wrap(SpanContext.create(TRACE_ID, SPAN_ID, TraceFlags.getSampled(), TraceState.getDefault()));
    }

    @Test
    void aCallMadeInASpanCarriesItsTraceparent() {
        try (Scope ignored = sampledSpan().makeCurrent()) {
            ExpertServiceGrpc.newBlockingStub(channel).describe(DescribeRequest.getDefaultInstance());
        }
        assertEquals("00-" + TRACE_ID + "-" + SPAN_ID + "-01", received.get().get(TRACEPARENT));
    }

    @Test
    void aCallMadeOutsideAnySpanCarriesNoTraceContext() {
        ExpertServiceGrpc.newBlockingStub(channel).describe(DescribeRequest.getDefaultInstance());
        assertNull(received.get().get(TRACEPARENT));
    }

    @Test
    void aStreamMessagesTraceparentNamesTheCallersSpanAsTheRemoteParent() {
        String traceparent;
        try (Scope ignored = sampledSpan().makeCurrent()) {
            traceparent = MeshTraceContext.traceparent();
        }
        assertEquals("00-" + TRACE_ID + "-" + SPAN_ID + "-01", traceparent);
        SpanContext parent = Span.fromContext(MeshTraceContext.parent(traceparent)).getSpanContext();
        assertEquals(TRACE_ID, parent.getTraceId());
        assertEquals(SPAN_ID, parent.getSpanId());
        assertTrue(parent.isRemote());
    }

    @Test
    void noSpanGivesAnEmptyTraceparentAndAnEmptyOrMalformedOneTheRoot() {
        assertEquals("", MeshTraceContext.traceparent());
        assertSame(Context.root(), MeshTraceContext.parent(""));
        assertFalse(Span.fromContext(MeshTraceContext.parent("00-not-a-trace-01")).getSpanContext().isValid());
    }
}
