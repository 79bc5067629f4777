package dev.moemesh.expert.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.DrainResponse;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The orchestrator's ControlPlane as a member sees it, recording what it is sent: it forgets as the real one does
 * (a heartbeat of an instance it does not know answers {@code known = false}, and its rows are not taken) and can be
 * told to refuse registrations or fail heartbeats. ExpertServiceMembershipTest (module integration-tests) runs the real one.
 */
final class RecordingControlPlane extends ControlPlaneGrpc.ControlPlaneImplBase implements AutoCloseable {
    static final long HEARTBEAT_MS = 50;

    final BlockingQueue<RegisterRequest> registrations = new LinkedBlockingQueue<>();
    /** Heartbeats of known instances: their rows count. */
    final List<HeartbeatRequest> taken = new CopyOnWriteArrayList<>();
    /** Heartbeats of instances it did not know. */
    final List<HeartbeatRequest> ignored = new CopyOnWriteArrayList<>();
    final AtomicInteger failedHeartbeats = new AtomicInteger();
    final BlockingQueue<DrainRequest> drains = new LinkedBlockingQueue<>();
    /** Set: registrations fail with it. */
    volatile Status registerRefusal;
    /** Set: heartbeats fail with it. */
    volatile Status heartbeatFailure;

    private final Set<String> known = ConcurrentHashMap.newKeySet();
    private final Server server;

    RecordingControlPlane(int port) throws IOException {
        server = NettyServerBuilder.forPort(port).addService(this).build().start();
    }

    String address() {
        return "localhost:" + server.getPort();
    }

    /** As after an orchestrator restart: the instance's next heartbeat is answered {@code known = false}. */
    void forget(String instanceId) {
        known.remove(instanceId);
    }

    /** Rows per expert summed over the heartbeats it took. */
    Map<ExpertId, Long> takenRows() {
        Map<ExpertId, Long> rows = new TreeMap<>();
        for (HeartbeatRequest beat : taken) {
            beat.getTokensList().forEach(t -> rows.merge(new ExpertId(t.getLayer(), t.getExpert()), t.getTokens(),
                    Long::sum));
        }
        return rows;
    }

    @Override
    public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
        Status refusal = registerRefusal;
        if (refusal != null) {
            response.onError(refusal.asRuntimeException());
            return;
        }
        known.add(request.getInstanceId());
        registrations.add(request);
        response.onNext(RegisterResponse.newBuilder().setHeartbeatIntervalMs(HEARTBEAT_MS).setPlacementVersion(1)
                .build());
        response.onCompleted();
    }

    @Override
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        Status failure = heartbeatFailure;
        if (failure != null) {
            failedHeartbeats.incrementAndGet();
            response.onError(failure.asRuntimeException());
            return;
        }
        boolean isKnown = known.contains(request.getInstanceId());
        (isKnown ? taken : ignored).add(request);
        response.onNext(HeartbeatResponse.newBuilder().setKnown(isKnown).setPlacementVersion(1).build());
        response.onCompleted();
    }

    @Override
    public void drain(DrainRequest request, StreamObserver<DrainResponse> response) {
        drains.add(request);
        response.onNext(DrainResponse.newBuilder().setPlacementVersion(2).build());
        response.onCompleted();
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
