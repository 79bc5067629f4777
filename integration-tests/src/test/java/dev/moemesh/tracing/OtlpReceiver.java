package dev.moemesh.tracing;

import com.google.protobuf.ByteString;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/** An OTLP/gRPC trace receiver in the test JVM, as a collector would be: it keeps every span the processes export. */
final class OtlpReceiver implements AutoCloseable {
    private static final HexFormat HEX = HexFormat.of();

    /** A span as received: the service that exported it, its ids in hex (the parent empty for a root) and links. */
    record Received(String service, String name, String traceId, String spanId, String parentSpanId,
                    Map<String, String> attributes, List<String> linkedSpanIds) {}

    private final List<Received> spans = new CopyOnWriteArrayList<>();
    private final Server server;

    private OtlpReceiver() throws IOException {
        server = NettyServerBuilder.forPort(0).addService(new TraceServiceGrpc.TraceServiceImplBase() {
            @Override
            public void export(ExportTraceServiceRequest request, StreamObserver<ExportTraceServiceResponse> out) {
                for (ResourceSpans resource : request.getResourceSpansList()) {
                    String service = attributes(resource.getResource().getAttributesList()).get("service.name");
                    for (ScopeSpans scope : resource.getScopeSpansList()) {
                        for (Span s : scope.getSpansList()) spans.add(received(service, s));
                    }
                }
                out.onNext(ExportTraceServiceResponse.getDefaultInstance());
                out.onCompleted();
            }
        }).build().start();
    }

    static OtlpReceiver start() {
        try {
            return new OtlpReceiver();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the OTLP receiver: " + e.getMessage(), e);
        }
    }

    /** What a process sets {@code quarkus.otel.exporter.otlp.endpoint} to. */
    String endpoint() {
        return "http://localhost:" + server.getPort();
    }

    /** The spans received, once {@code done} holds of them (else fails, listing what came). */
    List<Received> await(Predicate<List<Received>> done, Duration limit) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!done.test(List.copyOf(spans))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("waited " + limit + " for spans; received " + spans.size() + ": "
                        + spans.stream().map(s -> s.service() + " " + s.name()).toList());
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        return List.copyOf(spans);
    }

    private static Received received(String service, Span s) {
        return new Received(service, s.getName(), hex(s.getTraceId()), hex(s.getSpanId()), hex(s.getParentSpanId()),
                attributes(s.getAttributesList()), s.getLinksList().stream().map(l -> hex(l.getSpanId())).toList());
    }

    private static Map<String, String> attributes(List<KeyValue> values) {
        return values.stream().collect(Collectors.toMap(KeyValue::getKey, kv -> kv.getValue().hasStringValue()
                ? kv.getValue().getStringValue() : String.valueOf(kv.getValue().getIntValue()), (a, b) -> b));
    }

    private static String hex(ByteString bytes) {
        return HEX.formatHex(bytes.toByteArray());
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
