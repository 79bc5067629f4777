package dev.moemesh.controlplane;

import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.HeartbeatResponse;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.RegisterResponse;
import dev.moemesh.proto.ReportUnreachableRequest;
import dev.moemesh.proto.Role;
import dev.moemesh.tls.MeshRole;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A service as a member of the orchestrator's control plane (docs/control-plane.md): it registers, heartbeats at
 * the interval the control plane gives, registers again when the control plane has forgotten it, watches the
 * placement when asked to, and drains when it stops, if asked to. The calls run on a thread of their own and are
 * retried with back-off, so the service serves whether the orchestrator is there or not; each change of state is
 * logged once.
 *
 * <p>The target may name several orchestrators, comma-separated, of which one leads the control plane at a time
 * ({@code orchestrator.control-plane.election}); the others answer {@code UNAVAILABLE}. A call that cannot reach the
 * one in use, or is answered so, goes to the next; the new leader does not know this instance, so its first heartbeat
 * there registers it again, and the placement watch follows.
 */
public final class ControlPlaneMember implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ControlPlaneMember.class);
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5);
    /** The orchestrator's default, for a control plane that names no interval. */
    private static final long DEFAULT_HEARTBEAT_MS = 2_000;
    /** However short an interval the control plane asks for, the loop never spins. */
    private static final long SHORTEST_HEARTBEAT_MS = 50;

    /** Who this service is to the control plane. */
    public record Identity(String instanceId, Role role, String address, String modelFingerprint) {

        /**
         * The identity from a service's settings: its instance id, else {@code <hostname>:<gRPC port>}; its advertised
         * address, else {@code localhost:<gRPC port>}.
         *
         * @param prefix the settings' prefix ({@code expert}, {@code attention}), named when the host name is unknown
         */
        public static Identity of(Role role, Optional<String> instanceId, Optional<String> advertisedAddress,
                                  int grpcPort, String modelFingerprint, String prefix) {
            return new Identity(instanceId.orElseGet(() -> hostName(prefix) + ":" + grpcPort), role,
                    advertisedAddress.orElse("localhost:" + grpcPort), modelFingerprint);
        }

        private static String hostName(String prefix) {
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                throw new IllegalStateException(prefix + ".instance-id is unset and this host's name cannot be found ("
                        + e.getMessage() + "); set " + prefix + ".instance-id to a name that stays the same across"
                        + " restarts, e.g. the pod name", e);
            }
        }
    }

    /** Where the membership stands. */
    public enum State {
        /** not asked yet */
        STARTING,
        /** Register cannot reach the control plane; retried with back-off */
        UNREACHABLE,
        /** Register was refused (another model, a bad argument); asked again rarely */
        REFUSED,
        /** registered, and heartbeats get through */
        REGISTERED,
        /** registered, but heartbeats fail; retried at the heartbeat interval */
        HEARTBEATS_FAILING,
        /** the control plane no longer knows this instance; it registers again */
        FORGOTTEN,
        /** the service stops: drained, or the drain failed, or none was asked for */
        STOPPED
    }

    private final List<String> targets;
    private final Identity identity;
    private final MemberReport report;
    private final MemberOptions options;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<ControlPlaneGrpc.ControlPlaneBlockingStub> stubs = new ArrayList<>();
    private volatile int at; // the target in use
    private int triedInARow;  // the loop's own: targets that failed one after another since one answered
    private final ScheduledExecutorService loop;
    private final PlacementWatch watch; // null: no watch
    private volatile boolean registered;
    private volatile boolean stopping;
    private volatile State state = State.STARTING;
    private volatile String status;
    // the loop's own
    private Duration nextRetry;
    private long heartbeatMillis = DEFAULT_HEARTBEAT_MS;

    private ControlPlaneMember(String target, Identity identity, MemberReport report, MemberOptions options) {
        this.targets = targets(target);
        this.identity = identity;
        this.report = report;
        this.options = options;
        this.nextRetry = options.firstRetry();
        this.status = "registering with the control plane at " + target + " as '" + identity.instanceId() + "'";
        for (String t : targets) {
            ManagedChannel channel = options.channels().forTarget(t, MeshRole.ORCHESTRATOR).build();
            channels.add(channel);
            stubs.add(ControlPlaneGrpc.newBlockingStub(channel));
        }
        this.loop = Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().daemon().name("control-plane-member").unstarted(r));
        this.watch = options.placements().map(listener -> new PlacementWatch(this, listener)).orElse(null);
    }

    private static List<String> targets(String target) {
        List<String> out = new ArrayList<>();
        for (String t : target.split(",")) {
            if (!t.isBlank()) out.add(t.strip());
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no control plane named in '" + target + "'");
        return List.copyOf(out);
    }

    /**
     * Starts the membership (and the watch) in the background and returns at once.
     *
     * @param target the ControlPlane service, {@code host:port}, or several comma-separated (orchestrators of which
     *               one leads)
     */
    public static ControlPlaneMember start(String target, Identity identity, MemberReport report,
                                           MemberOptions options) {
        ControlPlaneMember member = new ControlPlaneMember(target, identity, report, options);
        member.later(member::step, 0);
        if (member.watch != null) member.later(member.watch::watch, 0);
        return member;
    }

    /** The control plane in use: the one that last answered, or the next to try. */
    public String target() {
        return targets.get(at);
    }

    /** The channel to the control plane in use. */
    ManagedChannel channel() {
        return channels.get(at);
    }

    /**
     * The control plane in use failed a call (unreachable, or standing by): the next of several is tried. True when
     * every one has failed in a row since one last answered, so the caller backs off.
     */
    private boolean nextTarget() {
        if (targets.size() == 1) return true;
        at = (at + 1) % targets.size();
        if (++triedInARow < targets.size()) return false;
        triedInARow = 0;
        return true;
    }

    public State state() {
        return state;
    }

    /** One line for readiness: whom it is registered with as what, or why not. */
    public String status() {
        return status;
    }

    Identity identity() {
        return identity;
    }

    MemberOptions options() {
        return options;
    }

    boolean stopping() {
        return stopping;
    }

    /**
     * Tells the control plane, at once and in the background, that this service's calls to the expert service at
     * {@code address} fail, so it probes that service and re-places its experts without waiting for its missed
     * heartbeats. Best effort: a report that does not get through is logged, and the heartbeats decide as before.
     */
    public void reportUnreachable(String address, String reason) {
        if (stopping) return;
        later(() -> {
            if (!registered || stopping) return;
            try {
                boolean probing = call().reportUnreachable(ReportUnreachableRequest.newBuilder()
                        .setInstanceId(identity.instanceId()).setAddress(address).setReason(reason).build()).getProbing();
                LOG.infof("reported expert service %s unreachable to the control plane at %s (%s)%s", address, target(),
                        reason, probing ? "" : "; it is not a registered expert service there");
            } catch (StatusRuntimeException e) {
                LOG.warnf("could not report expert service %s unreachable to the control plane at %s: %s", address,
                        target(), describe(e.getStatus()));
            }
        }, 0);
    }

    /** Runs a task on the member's thread after a delay; nothing once it stops. */
    void later(Runnable task, long delayMillis) {
        try {
            loop.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            if (!stopping) throw e;
        }
    }

    private void step() {
        if (stopping) return;
        long delayMillis;
        try {
            delayMillis = registered ? heartbeat() : register();
        } catch (RuntimeException e) {
            LOG.errorf(e, "control-plane membership of '%s' failed; trying again in %d s", identity.instanceId(),
                    options.longestRetry().toSeconds());
            delayMillis = options.longestRetry().toMillis();
        }
        later(this::step, delayMillis);
    }

    private long register() {
        RegisterRequest.Builder request = RegisterRequest.newBuilder().setInstanceId(identity.instanceId())
                .setRole(identity.role()).setAddress(identity.address()).setModelFingerprint(identity.modelFingerprint());
        report.register(request);
        String target = target();
        try {
            RegisterResponse answer = call().register(request.build());
            long interval = answer.getHeartbeatIntervalMs();
            if (answer.hasPeers()) report.peers(answer.getPeers());
            heartbeatMillis = interval > 0 ? Math.max(SHORTEST_HEARTBEAT_MS, interval) : DEFAULT_HEARTBEAT_MS;
            registered = true;
            nextRetry = options.firstRetry();
            triedInARow = 0;
            if (watch != null) watch.following(target);
            String held = identity.role() == Role.ROLE_EXPERT ? ", %d experts held, %s expert slots per MoE layer"
                    .formatted(request.getHeldCount(), request.getExpertSlots() == 0 ? "unlimited"
                            : request.getExpertSlots()) : "";
            enter(State.REGISTERED, registeredStatus(), Logger.Level.INFO, ("registered with the control plane at %s as"
                    + " %s '%s': address %s%s; heartbeat every %d ms").formatted(target, roleName(),
                    identity.instanceId(), identity.address(), held, heartbeatMillis));
            return heartbeatMillis;
        } catch (StatusRuntimeException e) {
            if (isRefusal(e.getStatus().getCode())) {
                enter(State.REFUSED, "refused by the control plane at " + target + ": " + describe(e.getStatus()),
                        Logger.Level.ERROR, ("the control plane at %s refuses instance '%s': %s; this service keeps"
                                + " serving whoever calls it and asks again every %d s").formatted(target,
                                identity.instanceId(), describe(e.getStatus()), options.refusedRetry().toSeconds()));
                return options.refusedRetry().toMillis();
            }
            if (!nextTarget()) return 0; // the next orchestrator may lead
            long wait = nextRetry.toMillis();
            Duration doubled = nextRetry.multipliedBy(2);
            nextRetry = doubled.compareTo(options.longestRetry()) < 0 ? doubled : options.longestRetry();
            enter(State.UNREACHABLE, "cannot reach the control plane at " + target + ": " + describe(e.getStatus()),
                    Logger.Level.WARN, ("cannot register with the control plane at %s as '%s' (%s); this service"
                            + " serves meanwhile and tries again, at least every %d s").formatted(target,
                            identity.instanceId(), describe(e.getStatus()), options.longestRetry().toSeconds()));
            return wait;
        }
    }

    /** Another model or a bad argument: asking again soon gives the same answer. */
    private static boolean isRefusal(Status.Code code) {
        return code == Status.Code.FAILED_PRECONDITION || code == Status.Code.INVALID_ARGUMENT
                || code == Status.Code.UNIMPLEMENTED;
    }

    private long heartbeat() {
        HeartbeatRequest.Builder beat = HeartbeatRequest.newBuilder().setInstanceId(identity.instanceId());
        report.heartbeat(beat);
        String target = target();
        try {
            HeartbeatResponse answer = call().heartbeat(beat.build());
            if (!answer.getKnown()) {
                registered = false;
                enter(State.FORGOTTEN, "registering again with the control plane at " + target, Logger.Level.INFO,
                        ("the control plane at %s does not know '%s' (it restarted, or took this instance for dead):"
                                + " registering again").formatted(target, identity.instanceId()));
                return 0;
            }
            report.heartbeatTaken();
            triedInARow = 0;
            if (answer.hasPeers()) report.peers(answer.getPeers());
            enter(State.REGISTERED, registeredStatus(), Logger.Level.INFO, "heartbeats to the control plane at "
                    + target + " get through again");
            if (watch != null) watch.published(answer.getPlacementVersion());
        } catch (StatusRuntimeException e) {
            enter(State.HEARTBEATS_FAILING, registeredStatus() + ", but heartbeats fail: " + describe(e.getStatus()),
                    Logger.Level.WARN, ("heartbeats to the control plane at %s fail (%s); retried every %d ms%s")
                            .formatted(target, describe(e.getStatus()), heartbeatMillis,
                                    targets.size() > 1 ? ", at the next orchestrator of " + targets : ""));
            if (!nextTarget()) return 0; // the next orchestrator may lead: it registers this instance again
        }
        return heartbeatMillis;
    }

    private String registeredStatus() {
        return "registered with the control plane at " + target() + " as '" + identity.instanceId() + "'";
    }

    private String roleName() {
        return switch (identity.role()) {
            case ROLE_EXPERT -> "expert service";
            case ROLE_ROUTER -> "router";
            default -> "attention service";
        };
    }

    /**
     * Stops watching and heartbeating; with a drain timeout, first takes this instance out of the placement (best
     * effort, within that time) while the service keeps serving, as callers may still route to it.
     */
    @Override
    public void close() {
        if (stopping) return;
        stopping = true;
        long limit = options.drainTimeout().orElse(Duration.ZERO).plus(CALL_DEADLINE).toMillis();
        try {
            // on the loop's thread: after a registration in flight, never beside one
            loop.submit(this::leave).get(limit, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            LOG.warnf("leaving the control plane at %s as '%s' did not finish: %s", target(), identity.instanceId(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            loop.shutdownNow();
            channels.forEach(ManagedChannel::shutdownNow);
        }
    }

    private void leave() {
        String target = target();
        if (watch != null) watch.cancel(roleName() + " stopping");
        if (options.drainTimeout().isEmpty()) {
            enter(State.STOPPED, "stopped", Logger.Level.DEBUG, "left the control plane at " + target);
        } else if (!registered) {
            enter(State.STOPPED, "stopped, not registered with the control plane at " + target, Logger.Level.INFO,
                    "not registered with the control plane at " + target + ": nothing to drain");
        } else {
            drain(options.drainTimeout().get());
        }
        registered = false;
    }

    private void drain(Duration timeout) {
        String target = target();
        try {
            long version = stubs.get(at).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .drain(DrainRequest.newBuilder().setInstanceId(identity.instanceId()).build()).getPlacementVersion();
            enter(State.STOPPED, "drained from the control plane at " + target, Logger.Level.INFO,
                    identity.role() == Role.ROLE_ROUTER ? "left the control plane at " + target
                            : "drained: placement version %d of the control plane at %s no longer uses '%s'".formatted(
                                    version, target, identity.instanceId()));
        } catch (StatusRuntimeException e) {
            enter(State.STOPPED, "stopped, not drained from the control plane at " + target, Logger.Level.WARN,
                    ("could not drain '%s' from the control plane at %s (%s); callers may route to it until the"
                            + " control plane takes it for dead").formatted(identity.instanceId(), target,
                            describe(e.getStatus())));
        }
    }

    private ControlPlaneGrpc.ControlPlaneBlockingStub call() {
        return stubs.get(at).withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Logs {@code logLine} when the state changes; {@code status} is what readiness shows from now on. */
    private void enter(State next, String status, Logger.Level level, String logLine) {
        this.status = status;
        if (next != state) {
            state = next;
            LOG.log(level, logLine);
        }
    }

    static String describe(Status s) {
        return s.getDescription() == null ? s.getCode().name() : s.getCode() + ": " + s.getDescription();
    }
}
