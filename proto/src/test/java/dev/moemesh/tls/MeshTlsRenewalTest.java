package dev.moemesh.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import org.junit.jupiter.api.Test;

/**
 * A certificate renewed in place ({@link MeshTls#renew}), as cert-manager renews one (same name and roles, a new key):
 * servers and channels built before present it on their next new connection, over real TLS sockets, without being
 * rebuilt.
 */
class MeshTlsRenewalTest {

    private static final MeshCertificates CA = MeshCertificates.newCa("moemesh test CA");
    private static final List<String> LOCAL = List.of("localhost", "127.0.0.1");

    @Test
    void aServerBuiltOnceShowsNewCallersItsRenewedCertificate() throws Exception {
        MeshCertificates.Issued first = expert();
        MeshCertificates.Issued renewed = expert();
        MeshTls tls = first.meshTls();
        AtomicReference<BigInteger> caller = new AtomicReference<>();
        Server server = start(tls, 0, caller);
        try {
            assertEquals(serial(first), serverSeenByANewCaller(server));
            tls.renew(keys(renewed));
            assertEquals(serial(renewed), serverSeenByANewCaller(server));
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aChannelBuiltOncePresentsTheRenewedCertificateWhenItConnectsAgain() throws Exception {
        MeshCertificates.Issued first = attention();
        MeshCertificates.Issued renewed = attention();
        MeshTls tls = first.meshTls();
        MeshTls expert = expert().meshTls();
        AtomicReference<BigInteger> caller = new AtomicReference<>();
        Server server = start(expert, 0, caller);
        int port = server.getPort();
        ManagedChannel channel = MeshChannels.tls(tls).forTarget("localhost:" + port, MeshRole.EXPERT).build();
        try {
            call(channel);
            assertEquals(serial(first), caller.get());

            tls.renew(keys(renewed));
            // the expert service restarts at the same address: the channel connects again, a full handshake
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server = start(expert().meshTls(), port, caller);
            call(channel);
            assertEquals(serial(renewed), caller.get());
            assertNotEquals(serial(first), serial(renewed));
        } finally {
            channel.shutdownNow();
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static MeshCertificates.Issued expert() {
        return CA.issue("expert-0", Set.of(MeshRole.EXPERT), Set.of("expert-0"), LOCAL);
    }

    private static MeshCertificates.Issued attention() {
        return CA.issue("attention-0", Set.of(MeshRole.ATTENTION), Set.of("attention-0"), LOCAL);
    }

    private static BigInteger serial(MeshCertificates.Issued issued) {
        return issued.certificate().getSerialNumber();
    }

    private static KeyManagerFactory keys(MeshCertificates.Issued issued) throws Exception {
        char[] password = new char[0];
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(issued.keyStore(password), password);
        return keys;
    }

    /** An expert service that notes the serial of each caller's certificate. */
    private static Server start(MeshTls tls, int port, AtomicReference<BigInteger> caller) throws IOException {
        ServerInterceptor noting = new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                              ServerCallHandler<Q, A> next) {
                caller.set(peerSerial(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
                return next.startCall(call, headers);
            }
        };
        return NettyServerBuilder.forAddress(new InetSocketAddress("localhost", port)).sslContext(tls.serverContext())
                .addService(ServerInterceptors.intercept(new ExpertServiceGrpc.ExpertServiceImplBase() {
                    @Override
                    public void runExperts(RunExpertsRequest request, StreamObserver<RunExpertsResponse> out) {
                        out.onNext(RunExpertsResponse.getDefaultInstance());
                        out.onCompleted();
                    }
                }, noting)).build().start();
    }

    private static void call(Channel channel) {
        ExpertServiceGrpc.newBlockingStub(channel).withWaitForReady().withDeadlineAfter(30, TimeUnit.SECONDS)
                .runExperts(RunExpertsRequest.getDefaultInstance());
    }

    /** The serial of the certificate {@code server} presents to a caller with a TLS context of its own (no session to resume). */
    private static BigInteger serverSeenByANewCaller(Server server) {
        AtomicReference<BigInteger> seen = new AtomicReference<>();
        ClientInterceptor noting = new ClientInterceptor() {
            @Override
            public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
                ClientCall<Q, A> call = next.newCall(method, options);
                return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
                    @Override
                    public void start(Listener<A> listener, Metadata headers) {
                        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                            @Override
                            public void onHeaders(Metadata received) {
                                seen.set(peerSerial(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
                                super.onHeaders(received);
                            }
                        }, headers);
                    }
                };
            }
        };
        ManagedChannel channel = MeshChannels.tls(attention().meshTls())
                .forTarget("localhost:" + server.getPort(), MeshRole.EXPERT).intercept(noting).build();
        try {
            call(channel);
            return seen.get();
        } finally {
            channel.shutdownNow();
        }
    }

    private static BigInteger peerSerial(SSLSession session) {
        try {
            return ((X509Certificate) session.getPeerCertificates()[0]).getSerialNumber();
        } catch (SSLPeerUnverifiedException e) {
            throw new AssertionError(e);
        }
    }
}
