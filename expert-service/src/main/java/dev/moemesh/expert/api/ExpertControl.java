package dev.moemesh.expert.api;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.LayerExpert;
import io.grpc.Status;

import java.util.List;

/**
 * {@code LoadExperts} and {@code UnloadExperts} as the expert service takes them (the control plane's or an operator's
 * call): every id must be a routed expert of the served model, or nothing changes and the call is refused
 * ({@code INVALID_ARGUMENT} naming it); loading what is held and unloading what is not change nothing. Each returns
 * what is held afterwards.
 */
final class ExpertControl {
    private final HeldExperts held;
    private final ExpertTokenCounters counters;

    ExpertControl(HeldExperts held, ExpertTokenCounters counters) {
        this.held = held;
        this.counters = counters;
    }

    List<ExpertId> load(List<LayerExpert> experts) {
        List<ExpertId> ids = ids(experts);
        held.load(ids);
        ids.forEach(counters::track);
        return held.held();
    }

    List<ExpertId> unload(List<LayerExpert> experts) {
        held.unload(ids(experts));
        return held.held();
    }

    private List<ExpertId> ids(List<LayerExpert> experts) {
        List<ExpertId> ids = experts.stream().map(e -> new ExpertId(e.getLayer(), e.getExpert())).toList();
        for (ExpertId id : ids) {
            if (!held.inModel(id.layer(), id.expert())) {
                throw Status.INVALID_ARGUMENT.withDescription("layer " + Integer.toUnsignedString(id.layer())
                        + " expert " + Integer.toUnsignedString(id.expert()) + " is not a routed expert of this model")
                        .asRuntimeException();
            }
        }
        return ids;
    }
}
