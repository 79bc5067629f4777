package dev.moemesh.expert.control;

import dev.moemesh.controlplane.ControlPlaneMember;
import dev.moemesh.controlplane.MemberOptions;
import dev.moemesh.expert.ExpertSettings;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.Role;
import dev.moemesh.tls.MeshChannels;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.util.Optional;

/**
 * Runs this service's {@link ControlPlaneMember} from start (experts loaded, gRPC server up) to stop when
 * {@code expert.control-plane} names the orchestrator; without it the service stands alone, as callers configured
 * with its address expect.
 */
@ApplicationScoped
public class ControlPlaneMembership {
    /** Register is retried this long after it could not reach the control plane, then twice as long each time. */
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Duration LONGEST_RETRY = Duration.ofSeconds(10);
    /** A refusal (another model) lasts until the orchestrator or this service restarts differently: asked rarely. */
    private static final Duration REFUSED_RETRY = Duration.ofMinutes(1);

    private final ExpertSettings config;
    private final HeldExperts held;
    private final ExpertTokenCounters counters;
    private final int grpcPort;
    private final MeshChannels channels;
    private volatile ControlPlaneMember member;

    ControlPlaneMembership(ExpertSettings config, HeldExperts held, ExpertTokenCounters counters,
                           @ConfigProperty(name = "quarkus.grpc.server.port") int grpcPort, MeshChannels channels) {
        this.config = config;
        this.held = held;
        this.counters = counters;
        this.grpcPort = grpcPort;
        this.channels = channels;
    }

    /** How an expert service retries, and that it drains within {@code drainTimeout} when it stops. */
    public static MemberOptions options(Duration drainTimeout) {
        return new MemberOptions(FIRST_RETRY, LONGEST_RETRY, REFUSED_RETRY, Optional.empty(),
                Optional.of(drainTimeout));
    }

    void start(@Observes StartupEvent ignored) {
        config.controlPlane().ifPresent(target -> member = ControlPlaneMember.start(target,
                ControlPlaneMember.Identity.of(Role.ROLE_EXPERT, config.instanceId(), config.advertisedAddress(),
                        grpcPort, held.fingerprint(), "expert"),
                new HeldExpertsReport(held::held, counters, config.expertSlots()), options(config.drainTimeout()).over(channels)));
    }

    void stop(@Observes ShutdownEvent ignored) {
        if (member != null) member.close();
    }

    /** The membership as readiness reports it; empty when the service stands alone. */
    public Optional<String> status() {
        return Optional.ofNullable(member).map(ControlPlaneMember::status);
    }
}
