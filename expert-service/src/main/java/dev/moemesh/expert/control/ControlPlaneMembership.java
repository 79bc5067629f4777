package dev.moemesh.expert.control;

import dev.moemesh.expert.ExpertSettings;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * Runs this service's {@link ControlPlaneMember} from start (experts loaded, gRPC server up) to stop when
 * {@code expert.control-plane} names the orchestrator; without it the service stands alone, as callers configured
 * with its address expect.
 */
@ApplicationScoped
public class ControlPlaneMembership {
    private final ExpertSettings config;
    private final HeldExperts held;
    private final ExpertTokenCounters counters;
    private final int grpcPort;
    private volatile ControlPlaneMember member;

    ControlPlaneMembership(ExpertSettings config, HeldExperts held, ExpertTokenCounters counters,
                           @ConfigProperty(name = "quarkus.grpc.server.port") int grpcPort) {
        this.config = config;
        this.held = held;
        this.counters = counters;
        this.grpcPort = grpcPort;
    }

    void start(@Observes StartupEvent ignored) {
        config.controlPlane().ifPresent(target -> member = ControlPlaneMember.start(target, instance(), held::held,
                counters, config.drainTimeout()));
    }

    void stop(@Observes ShutdownEvent ignored) {
        if (member != null) member.close();
    }

    /** The membership as readiness reports it; empty when the service stands alone. */
    public Optional<String> status() {
        return Optional.ofNullable(member).map(ControlPlaneMember::status);
    }

    private ExpertInstance instance() {
        String id = config.instanceId().orElseGet(() -> hostName() + ":" + grpcPort);
        String address = config.advertisedAddress().orElse("localhost:" + grpcPort);
        return new ExpertInstance(id, address, held.fingerprint(), config.expertSlots());
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            throw new IllegalStateException("expert.instance-id is unset and this host's name cannot be found ("
                    + e.getMessage() + "); set expert.instance-id to a name that stays the same across restarts,"
                    + " e.g. the pod name", e);
        }
    }
}
