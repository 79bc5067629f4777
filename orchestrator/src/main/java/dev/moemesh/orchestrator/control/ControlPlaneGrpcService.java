package dev.moemesh.orchestrator.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.orchestrator.membership.InstanceRole;
import dev.moemesh.orchestrator.membership.ModelMismatchException;
import dev.moemesh.orchestrator.membership.PeerShare;
import dev.moemesh.orchestrator.membership.Registration;
import dev.moemesh.orchestrator.membership.UnknownInstanceException;
import dev.moemesh.orchestrator.placement.InsufficientSlotsException;
import dev.moemesh.orchestrator.placement.Replica;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.DrainResponse;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.ReportUnreachableRequest;
import dev.moemesh.proto.ReportUnreachableResponse;
import dev.moemesh.proto.WatchPlacementRequest;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * The gRPC edge of the control plane: the ControlPlane service (Register, Heartbeat, WatchPlacement, Drain,
 * ReportUnreachable). While this orchestrator stands by (another leads), every call is answered {@code UNAVAILABLE}
 * with {@link ControlPlane#STANDING_BY}, which a member takes as "try the next orchestrator".
 */
@GrpcService
public class ControlPlaneGrpcService extends ControlPlaneGrpc.ControlPlaneImplBase {
    private final ControlPlane controlPlane;

    public ControlPlaneGrpcService(ControlPlane controlPlane) {
        this.controlPlane = controlPlane;
    }

    @Override
    @Blocking
    public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
        if (standingBy(response)) return;
        try {
            TreeSet<ExpertId> held = new TreeSet<>();
            request.getHeldList().forEach(e -> held.add(new ExpertId(e.getLayer(), e.getExpert())));
            long version = controlPlane.register(new Registration(request.getInstanceId(), role(request),
                    request.getAddress(), request.getModelFingerprint(), request.getExpertSlots(), held));
            RegisterResponse.Builder answer = RegisterResponse.newBuilder()
                    .setHeartbeatIntervalMs(controlPlane.options().heartbeatInterval().toMillis())
                    .setPlacementVersion(version);
            controlPlane.peers(request.getInstanceId()).ifPresent(p -> answer.setPeers(toProto(p)));
            response.onNext(answer.build());
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(status(e));
        }
    }

    private static InstanceRole role(RegisterRequest request) {
        return switch (request.getRole()) {
            case ROLE_ATTENTION -> InstanceRole.ATTENTION;
            case ROLE_EXPERT -> InstanceRole.EXPERT;
            case ROLE_ROUTER -> InstanceRole.ROUTER;
            default -> throw new IllegalArgumentException("instance '" + request.getInstanceId() + "' gives role "
                    + request.getRole() + "; ROLE_ATTENTION, ROLE_EXPERT or ROLE_ROUTER");
        };
    }

    @Override
    @Blocking
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        if (standingBy(response)) return;
        Map<ExpertId, Long> rows = new HashMap<>();
        for (ExpertTokens t : request.getTokensList()) {
            rows.merge(new ExpertId(t.getLayer(), t.getExpert()), t.getTokens(), Long::sum);
        }
        boolean known = controlPlane.heartbeat(request.getInstanceId(), rows, request.getPlacementVersion());
        HeartbeatResponse.Builder answer = HeartbeatResponse.newBuilder().setKnown(known)
                .setPlacementVersion(controlPlane.current().version());
        if (known) controlPlane.peers(request.getInstanceId()).ifPresent(p -> answer.setPeers(toProto(p)));
        response.onNext(answer.build());
        response.onCompleted();
    }

    @Override
    @Blocking
    public void drain(DrainRequest request, StreamObserver<DrainResponse> response) {
        if (standingBy(response)) return;
        try {
            long version = controlPlane.drain(request.getInstanceId());
            response.onNext(DrainResponse.newBuilder().setPlacementVersion(version).build());
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(status(e));
        }
    }

    @Override
    public void reportUnreachable(ReportUnreachableRequest request, StreamObserver<ReportUnreachableResponse> response) {
        if (standingBy(response)) return;
        boolean probing = controlPlane.reportUnreachable(request.getInstanceId(), request.getAddress(),
                request.getReason());
        response.onNext(ReportUnreachableResponse.newBuilder().setProbing(probing).build());
        response.onCompleted();
    }

    @Override
    public void watchPlacement(WatchPlacementRequest request, StreamObserver<Placement> placements) {
        if (standingBy(placements)) return;
        try {
            PlacementStream.Subscription s = controlPlane.watch(request.getInstanceId(), request.getModelFingerprint(),
                    p -> placements.onNext(toProto(p)), refused -> placements.onError(status(refused)));
            if (placements instanceof ServerCallStreamObserver<Placement> server) server.setOnCancelHandler(s::close);
        } catch (RuntimeException e) {
            placements.onError(status(e));
        }
    }

    /** Refuses the call when this orchestrator stands by; true when it did. */
    private boolean standingBy(StreamObserver<?> response) {
        if (controlPlane.leading()) return false;
        response.onError(Status.UNAVAILABLE.withDescription(ControlPlane.STANDING_BY).asRuntimeException());
        return true;
    }

    private static dev.moemesh.proto.PeerShare toProto(PeerShare p) {
        return dev.moemesh.proto.PeerShare.newBuilder().setCount(p.count()).setRank(p.rank()).build();
    }

    static Placement toProto(PublishedPlacement p) {
        Placement.Builder b = Placement.newBuilder().setVersion(p.version()).setModelFingerprint(p.modelFingerprint());
        p.placement().experts().forEach((e, replicas) -> {
            ExpertReplicas.Builder r = b.addExpertsBuilder().setLayer(e.layer()).setExpert(e.expert());
            for (Replica replica : replicas) {
                r.addReplicasBuilder().setAddress(p.addresses().get(replica.instance())).setWeight(replica.weight())
                        .setInstanceId(replica.instance());
            }
        });
        return b.build();
    }

    private static RuntimeException status(RuntimeException e) {
        Status s = switch (e) {
            case IllegalArgumentException x -> Status.INVALID_ARGUMENT;
            case ModelMismatchException x -> Status.FAILED_PRECONDITION;
            case InsufficientSlotsException x -> Status.FAILED_PRECONDITION;
            case UnknownInstanceException x -> Status.NOT_FOUND;
            case IllegalStateException x -> Status.UNAVAILABLE;
            default -> Status.INTERNAL;
        };
        return s.withDescription(e.getMessage()).asRuntimeException();
    }
}
