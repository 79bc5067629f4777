package dev.moemesh.expert.control;

import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.api.ExpertGrpcService;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.proto.ControlPlaneGrpc;
import dev.moemesh.proto.DrainRequest;
import dev.moemesh.proto.ExpertTokens;
import dev.moemesh.proto.HeartbeatRequest;
import dev.moemesh.proto.RegisterRequest;
import dev.moemesh.proto.Role;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * This expert service as a member of the orchestrator's control plane (docs/control-plane.md): it registers with
 * the experts it holds and its slots, heartbeats the token rows each expert computed since the last heartbeat the
 * control plane took, registers again when the control plane has forgotten it, and drains when the service stops.
 * The calls run on a thread of its own and failures are retried, so the service serves whether the orchestrator
 * is there or not; each change of state is logged once.
 */
public final class ControlPlaneMember implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ControlPlaneMember.class);
    /** Register is retried this long after it could not reach the control plane, then twice as long each time. */
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Duration LONGEST_RETRY = Duration.ofSeconds(10);
    /** A refusal (another model) lasts until the orchestrator or this service restarts differently: asked rarely. */
    private static final Duration REFUSED_RETRY = Duration.ofMinutes(1);
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5);
    /** However short an interval the control plane asks for, the loop never spins. */
    private static final long SHORTEST_HEARTBEAT_MS = 50;

    /** Where the membership stands. */
    public enum State {
        /** not asked yet */
        STARTING,
        /** Register cannot reach the control plane; retried with back-off */
        UNREACHABLE,
        /** Register was refused (another model, a bad argument); asked again every minute */
        REFUSED,
        /** registered, and heartbeats get through */
        REGISTERED,
        /** registered, but heartbeats fail; their rows go with the next one that gets through */
        HEARTBEATS_FAILING,
        /** the control plane no longer knows this instance; it registers again */
        FORGOTTEN,
        /** the service stops: drained, or the drain failed */
        STOPPED
    }

    private final String target;
    private final ExpertInstance self;
    private final Supplier<List<ExpertId>> held;
    private final ExpertTokenCounters counters;
    private final Duration drainTimeout;
    private final ManagedChannel channel;
    private final ControlPlaneGrpc.ControlPlaneBlockingStub controlPlane;
    private final ScheduledExecutorService loop;
    private volatile boolean registered;
    private volatile boolean stopping;
    private volatile State state = State.STARTING;
    private volatile String status;
    // the loop's own
    /** Cumulative rows per expert as of the last heartbeat the control plane took. */
    private Map<ExpertId, Long> taken = Map.of();
    private Duration nextRetry = FIRST_RETRY;
    private long heartbeatMillis;

    private ControlPlaneMember(String target, ExpertInstance self, Supplier<List<ExpertId>> held,
                               ExpertTokenCounters counters, Duration drainTimeout) {
        this.target = target;
        this.self = self;
        this.held = held;
        this.counters = counters;
        this.drainTimeout = drainTimeout;
        this.status = "registering with the control plane at " + target + " as '" + self.instanceId() + "'";
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        this.controlPlane = ControlPlaneGrpc.newBlockingStub(channel);
        this.loop = Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().daemon().name("control-plane-member").unstarted(r));
    }

    /**
     * Starts the membership in the background and returns at once.
     *
     * @param target   the ControlPlane service, {@code host:port}
     * @param held     what the service holds now (asked at each registration)
     * @param counters its cumulative token rows per expert
     */
    public static ControlPlaneMember start(String target, ExpertInstance self, Supplier<List<ExpertId>> held,
                                           ExpertTokenCounters counters, Duration drainTimeout) {
        ControlPlaneMember member = new ControlPlaneMember(target, self, held, counters, drainTimeout);
        member.loop.execute(member::step);
        return member;
    }

    public State state() {
        return state;
    }

    /** One line for readiness: whom it is registered with as what, or why not. */
    public String status() {
        return status;
    }

    private void step() {
        if (stopping) return;
        long delayMillis;
        try {
            delayMillis = registered ? heartbeat() : register();
        } catch (RuntimeException e) {
            LOG.errorf(e, "control-plane membership of '%s' failed; trying again in %d s", self.instanceId(),
                    LONGEST_RETRY.toSeconds());
            delayMillis = LONGEST_RETRY.toMillis();
        }
        if (!stopping) loop.schedule(this::step, delayMillis, TimeUnit.MILLISECONDS);
    }

    private long register() {
        List<ExpertId> holding = held.get();
        RegisterRequest.Builder request = RegisterRequest.newBuilder().setInstanceId(self.instanceId())
                .setRole(Role.ROLE_EXPERT).setAddress(self.address()).setModelFingerprint(self.modelFingerprint())
                .setExpertSlots(self.expertSlots());
        holding.forEach(id -> request.addHeld(ExpertGrpcService.toWire(id)));
        try {
            long interval = call().register(request.build()).getHeartbeatIntervalMs();
            heartbeatMillis = Math.max(SHORTEST_HEARTBEAT_MS, interval);
            registered = true;
            nextRetry = FIRST_RETRY;
            enter(State.REGISTERED, registeredStatus(), Logger.Level.INFO, ("registered with the control plane at %s as"
                    + " '%s': address %s, %d experts held, %s expert slots per MoE layer; heartbeat every %d ms")
                    .formatted(target, self.instanceId(), self.address(), holding.size(),
                            self.expertSlots() == 0 ? "unlimited" : self.expertSlots(), heartbeatMillis));
            return heartbeatMillis;
        } catch (StatusRuntimeException e) {
            if (isRefusal(e.getStatus().getCode())) {
                enter(State.REFUSED, "refused by the control plane at " + target + ": " + why(e), Logger.Level.ERROR,
                        ("the control plane at %s refuses instance '%s': %s; this service keeps serving whoever calls"
                                + " it and asks again every %d s").formatted(target, self.instanceId(), why(e),
                                REFUSED_RETRY.toSeconds()));
                return REFUSED_RETRY.toMillis();
            }
            long wait = nextRetry.toMillis();
            Duration doubled = nextRetry.multipliedBy(2);
            nextRetry = doubled.compareTo(LONGEST_RETRY) < 0 ? doubled : LONGEST_RETRY;
            enter(State.UNREACHABLE, "cannot reach the control plane at " + target + ": " + why(e), Logger.Level.WARN,
                    ("cannot register with the control plane at %s as '%s' (%s); this service serves meanwhile and"
                            + " tries again, at least every %d s").formatted(target, self.instanceId(), why(e),
                            LONGEST_RETRY.toSeconds()));
            return wait;
        }
    }

    /** Another model or a bad argument: asking again soon gives the same answer. */
    private static boolean isRefusal(Status.Code code) {
        return code == Status.Code.FAILED_PRECONDITION || code == Status.Code.INVALID_ARGUMENT
                || code == Status.Code.UNIMPLEMENTED;
    }

    /**
     * Sends the rows counted since the last heartbeat the control plane took. Rows of one that failed or that the
     * control plane did not take (it no longer knew this instance) go with the next.
     */
    private long heartbeat() {
        Map<ExpertId, Long> counted = counters.snapshot();
        HeartbeatRequest.Builder beat = HeartbeatRequest.newBuilder().setInstanceId(self.instanceId());
        counted.forEach((id, rows) -> {
            long since = rows - taken.getOrDefault(id, 0L);
            if (since > 0) {
                beat.addTokens(ExpertTokens.newBuilder().setLayer(id.layer()).setExpert(id.expert()).setTokens(since));
            }
        });
        try {
            if (!call().heartbeat(beat.build()).getKnown()) {
                registered = false;
                enter(State.FORGOTTEN, "registering again with the control plane at " + target, Logger.Level.INFO,
                        ("the control plane at %s does not know '%s' (it restarted, or took this instance for dead):"
                                + " registering again with what it holds now").formatted(target, self.instanceId()));
                return 0;
            }
            taken = counted;
            enter(State.REGISTERED, registeredStatus(), Logger.Level.INFO, "heartbeats to the control plane at "
                    + target + " get through again");
        } catch (StatusRuntimeException e) {
            enter(State.HEARTBEATS_FAILING, registeredStatus() + ", but heartbeats fail: " + why(e), Logger.Level.WARN,
                    ("heartbeats to the control plane at %s fail (%s); retried every %d ms, their token rows go with"
                            + " the next one that gets through").formatted(target, why(e), heartbeatMillis));
        }
        return heartbeatMillis;
    }

    private String registeredStatus() {
        return "registered with the control plane at " + target + " as '" + self.instanceId() + "'";
    }

    /**
     * Takes this instance out of the placement (best effort, within the drain timeout) and stops heartbeating; the
     * service keeps serving while it waits, as callers may still route to it.
     */
    @Override
    public void close() {
        if (stopping) return;
        stopping = true;
        try {
            // on the loop's thread: after a registration in flight, never beside one
            loop.submit(this::drain).get(drainTimeout.plus(CALL_DEADLINE).toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            LOG.warnf("draining '%s' from the control plane at %s did not finish: %s", self.instanceId(), target, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            loop.shutdownNow();
            channel.shutdownNow();
        }
    }

    private void drain() {
        if (!registered) {
            enter(State.STOPPED, "stopped, not registered with the control plane at " + target, Logger.Level.INFO,
                    "not registered with the control plane at " + target + ": nothing to drain");
            return;
        }
        try {
            long version = controlPlane.withDeadlineAfter(drainTimeout.toMillis(), TimeUnit.MILLISECONDS)
                    .drain(DrainRequest.newBuilder().setInstanceId(self.instanceId()).build()).getPlacementVersion();
            enter(State.STOPPED, "drained from the control plane at " + target, Logger.Level.INFO,
                    "drained: placement version %d of the control plane at %s no longer uses '%s'".formatted(version,
                            target, self.instanceId()));
        } catch (StatusRuntimeException e) {
            enter(State.STOPPED, "stopped, not drained from the control plane at " + target, Logger.Level.WARN,
                    ("could not drain '%s' from the control plane at %s (%s); callers may route to it until the"
                            + " control plane takes it for dead").formatted(self.instanceId(), target, why(e)));
        }
        registered = false;
    }

    private ControlPlaneGrpc.ControlPlaneBlockingStub call() {
        return controlPlane.withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Logs {@code logLine} when the state changes; {@code status} is what readiness shows from now on. */
    private void enter(State next, String status, Logger.Level level, String logLine) {
        this.status = status;
        if (next != state) {
            state = next;
            LOG.log(level, logLine);
        }
    }

    private static String why(StatusRuntimeException e) {
        Status s = e.getStatus();
        return s.getDescription() == null ? s.getCode().name() : s.getCode() + ": " + s.getDescription();
    }
}
