package dev.moemesh.router;

import dev.moemesh.controlplane.ControlPlaneMember;
import dev.moemesh.controlplane.MemberOptions;
import dev.moemesh.controlplane.MemberReport;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.PeerShare;
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
 * With {@code router.control-plane} set, this router is a member of the orchestrator's control plane from start to
 * stop: it registers as a router of the served model, and every answer tells {@link RouterPeers} how many routers
 * share each API key's bounds and which of them this one is. When it stops it leaves at once, so that the others take
 * back its part; one that dies is counted until the control plane's heartbeat deadline (its part of each key is then
 * refused meanwhile, never over-admitted). The doors serve whether the control plane answers or not.
 */
@ApplicationScoped
public class RouterMembership {
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Duration LONGEST_RETRY = Duration.ofSeconds(10);
    private static final Duration REFUSED_RETRY = Duration.ofMinutes(1);
    /** Leaving takes the control plane no re-plan: a short wait is plenty. */
    private static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(5);

    private final RouterSettings settings;
    private final RouterPeers peers;
    private final int grpcPort;
    private final MeshChannels channels;
    private volatile ControlPlaneMember member;

    RouterMembership(RouterSettings settings, RouterPeers peers,
                     @ConfigProperty(name = "quarkus.grpc.server.port") int grpcPort, MeshChannels channels) {
        this.settings = settings;
        this.peers = peers;
        this.grpcPort = grpcPort;
        this.channels = channels;
    }

    void start(@Observes StartupEvent ignored) {
        settings.controlPlane().ifPresent(target -> member = ControlPlaneMember.start(target,
                ControlPlaneMember.Identity.of(Role.ROLE_ROUTER, settings.instanceId(), settings.advertisedAddress(),
                        grpcPort, ModelFingerprint.of(settings.modelDir()), "router"),
                new RouterReport(peers), new MemberOptions(FIRST_RETRY, LONGEST_RETRY, REFUSED_RETRY, Optional.empty(),
                        Optional.of(LEAVE_TIMEOUT)).over(channels)));
    }

    void stop(@Observes ShutdownEvent ignored) {
        if (member != null) member.close();
    }

    /** A router reports nothing but who it is; it hears its peers. */
    private record RouterReport(RouterPeers peers) implements MemberReport {
        @Override
        public void heartbeat(HeartbeatRequest.Builder beat) {}

        @Override
        public void peers(PeerShare share) {
            peers.update(share);
        }
    }
}
