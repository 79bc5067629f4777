package dev.moemesh.expert.control;

import dev.moemesh.controlplane.MemberReport;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.api.ExpertGrpcService;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.RegisterRequest;

import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What this expert service tells the control plane: at registration the experts it holds now and its slots; in
 * each heartbeat the token rows each expert computed since the last heartbeat the control plane took, so a row
 * is counted once even when heartbeats fail or go unheard.
 */
public final class HeldExpertsReport implements MemberReport {
    private final Supplier<List<ExpertId>> held;
    private final ExpertTokenCounters counters;
    private final int expertSlots;
    /** Cumulative rows per expert as of the last heartbeat the control plane took. */
    private Map<ExpertId, Long> taken = Map.of();
    private Map<ExpertId, Long> sent = Map.of();

    /**
     * @param held        what the service holds now (asked at each registration)
     * @param counters    its cumulative token rows per expert
     * @param expertSlots routed experts of each MoE layer it can hold; 0: no limit
     */
    public HeldExpertsReport(Supplier<List<ExpertId>> held, ExpertTokenCounters counters, int expertSlots) {
        if (expertSlots < 0) {
            throw new IllegalArgumentException("expert.expert-slots = " + expertSlots + " is negative; give the number"
                    + " of routed experts per MoE layer this instance can hold, or 0 for no limit");
        }
        this.held = held;
        this.counters = counters;
        this.expertSlots = expertSlots;
    }

    @Override
    public void register(RegisterRequest.Builder request) {
        request.setExpertSlots(expertSlots);
        held.get().forEach(id -> request.addHeld(ExpertGrpcService.toWire(id)));
    }

    @Override
    public void heartbeat(HeartbeatRequest.Builder beat) {
        Map<ExpertId, Long> counted = counters.snapshot();
        counted.forEach((id, rows) -> {
            long since = rows - taken.getOrDefault(id, 0L);
            if (since > 0) {
                beat.addTokens(ExpertTokens.newBuilder().setLayer(id.layer()).setExpert(id.expert()).setTokens(since));
            }
        });
        sent = counted;
    }

    @Override
    public void heartbeatTaken() {
        taken = sent;
    }
}
