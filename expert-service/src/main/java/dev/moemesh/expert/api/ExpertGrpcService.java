package dev.moemesh.expert.api;

import com.google.protobuf.UnsafeByteOperations;
import dev.moemesh.expert.BackendChoice;
import dev.moemesh.expert.ExpertServiceConfig;
import dev.moemesh.expert.held.ExpertId;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertService;
import dev.moemesh.proto.ExpertStats;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.GetExpertStatsRequest;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.LoadExpertsResponse;
import dev.moemesh.proto.RequestError;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import dev.moemesh.proto.UnloadExpertsRequest;
import dev.moemesh.proto.UnloadExpertsResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;

import java.util.List;

/** The gRPC edge of the expert service: ExpertService over the held experts. */
@GrpcService
public class ExpertGrpcService implements ExpertService {
    // Outputs are wrapped, not copied: ExpertRun returns a fresh array that nothing else keeps.
    private final HeldExperts held;
    private final ExpertTokenCounters counters;
    private final ExpertServiceConfig config;
    private final BackendChoice backend;
    private final ExpertRun run;

    ExpertGrpcService(HeldExperts held, ExpertTokenCounters counters, ExpertServiceConfig config, BackendChoice backend) {
        this.held = held;
        this.counters = counters;
        this.config = config;
        this.backend = backend;
        this.run = new ExpertRun(held, counters, config.minPlacementVersion());
    }

    @Override
    @Blocking
    public Uni<RunExpertsResponse> runExperts(RunExpertsRequest request) {
        return Uni.createFrom().item(() -> RunExpertsResponse.newBuilder().setSequence(request.getSequence())
                .setOutputs(UnsafeByteOperations.unsafeWrap(run.run(request))).build());
    }

    /** Requests are computed one after another on a worker thread, so responses keep request order. */
    @Override
    public Multi<RunExpertsResponse> runExpertsStream(Multi<RunExpertsRequest> requests) {
        return requests.emitOn(Infrastructure.getDefaultWorkerPool()).map(this::answerOnStream);
    }

    private RunExpertsResponse answerOnStream(RunExpertsRequest request) {
        RunExpertsResponse.Builder response = RunExpertsResponse.newBuilder().setSequence(request.getSequence());
        try {
            response.setOutputs(UnsafeByteOperations.unsafeWrap(run.run(request)));
        } catch (StatusRuntimeException e) {
            Status status = e.getStatus();
            response.setError(RequestError.newBuilder().setCode(status.getCode().value())
                    .setMessage(status.getDescription() == null ? status.getCode().name() : status.getDescription()));
        }
        return response.build();
    }

    @Override
    @Blocking
    public Uni<LoadExpertsResponse> loadExperts(LoadExpertsRequest request) {
        return Uni.createFrom().item(() -> {
            List<ExpertId> ids = ids(request.getExpertsList());
            held.load(ids);
            ids.forEach(counters::track);
            return LoadExpertsResponse.newBuilder().addAllHeld(layerExperts(held.held())).build();
        });
    }

    @Override
    @Blocking
    public Uni<UnloadExpertsResponse> unloadExperts(UnloadExpertsRequest request) {
        return Uni.createFrom().item(() -> {
            held.unload(ids(request.getExpertsList()));
            return UnloadExpertsResponse.newBuilder().addAllHeld(layerExperts(held.held())).build();
        });
    }

    @Override
    public Uni<ExpertStats> getExpertStats(GetExpertStatsRequest request) {
        ExpertStats.Builder stats = ExpertStats.newBuilder().setTotalRequests(run.requests())
                .setRefusedRequests(run.refused());
        counters.snapshot().forEach((id, tokens) -> stats.addTokens(
                ExpertTokens.newBuilder().setLayer(id.layer()).setExpert(id.expert()).setTokens(tokens)));
        return Uni.createFrom().item(stats.build());
    }

    @Override
    public Uni<DescribeResponse> describe(DescribeRequest request) {
        return Uni.createFrom().item(DescribeResponse.newBuilder().setModelFingerprint(held.fingerprint())
                .addAllHeld(layerExperts(held.held())).setBackend(backend.name())
                .setHidden(held.config().hiddenSize()).setMinPlacementVersion(config.minPlacementVersion()).build());
    }

    private List<ExpertId> ids(List<LayerExpert> experts) {
        List<ExpertId> ids = experts.stream().map(e -> new ExpertId(e.getLayer(), e.getExpert())).toList();
        for (ExpertId id : ids) {
            if (!held.inModel(id.layer(), id.expert())) {
                throw Status.INVALID_ARGUMENT.withDescription("layer " + id.layer() + " expert " + id.expert()
                        + " is not a routed expert of this model").asRuntimeException();
            }
        }
        return ids;
    }

    private static List<LayerExpert> layerExperts(List<ExpertId> ids) {
        return ids.stream().map(id -> LayerExpert.newBuilder().setLayer(id.layer()).setExpert(id.expert()).build())
                .toList();
    }
}
