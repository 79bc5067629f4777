package dev.moemesh.attention;

import dev.moemesh.attention.engine.EngineLoop;
import dev.moemesh.attention.engine.GenerationTraces;
import dev.moemesh.attention.experts.ExpertClient;
import dev.moemesh.attention.experts.PlacementTable;
import dev.moemesh.attention.experts.RemoteExperts;
import dev.moemesh.controlplane.ControlPlaneMember;
import dev.moemesh.controlplane.MemberOptions;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.Role;
import dev.moemesh.tls.MeshChannels;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.trace.Tracer;
import io.quarkus.logging.Log;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Builds the service's plain objects from its configuration; model and experts are ready before serving. */
@ApplicationScoped
public class AttentionBeans {
    /** How often an unreachable control plane is tried again: soon at first, then every few seconds. */
    private static final Duration FIRST_RETRY = Duration.ofMillis(250);
    private static final Duration LONGEST_RETRY = Duration.ofSeconds(5);

    /**
     * The model this service serves; when its routed experts are elsewhere, the backend that reaches them, and the
     * link to the control plane that places them when one is configured.
     */
    public record Served(Model model, String fingerprint, Optional<RemoteExperts> remote,
                         Optional<ControlPlaneMember> controlPlane) {}

    @Produces
    @Singleton
    @Startup
    Served served(AttentionSettings config, @ConfigProperty(name = "quarkus.grpc.server.port") int grpcPort,
                  MeshChannels channels) {
        long started = System.nanoTime();
        String fingerprint = ModelFingerprint.of(config.modelDir());
        List<String> addresses = config.expertServices().orElse(List.of()).stream().map(String::strip)
                .filter(a -> !a.isEmpty()).distinct().toList();
        if (addresses.isEmpty() && config.controlPlane().isEmpty()) {
            Model model = Model.load(config.modelDir(), config.maxSeqLen(), null, modelOptions(config));
            Log.infof("serving %s (fingerprint %s) with its routed experts in this process; loaded in %d ms",
                    config.modelDir(), fingerprint, (System.nanoTime() - started) / 1_000_000);
            return new Served(model, fingerprint, Optional.empty(), Optional.empty());
        }
        ModelConfig modelConfig = ModelConfig.load(config.modelDir());
        RemoteExperts remote = addresses.isEmpty()
                ? new RemoteExperts(modelConfig, List.of(), PlacementTable.none(modelConfig), fingerprint,
                        config.expertTimeout(), config.expertBreaker().openFor(), channels)
                : connect(addresses, modelConfig, fingerprint, config, channels);
        // a step whose expert lost its last replica waits for a placement that serves it (re-tried each breaker back-off)
        remote.healWith(new RemoteExperts.Healing(config.expertHealTimeout(), config.expertBreaker().openFor(),
                config.controlPlane().isPresent()));
        Model model = Model.load(config.modelDir(), config.maxSeqLen(), remote, modelOptions(config));
        // each heartbeat tells the placement version in use; each placement watched is switched to
        Optional<ControlPlaneMember> link = config.controlPlane().map(target -> ControlPlaneMember.start(target,
                ControlPlaneMember.Identity.of(Role.ROLE_ATTENTION, config.instanceId(), config.advertisedAddress(),
                        grpcPort, fingerprint, "attention"),
                beat -> beat.setPlacementVersion(remote.placement().version()),
                new MemberOptions(FIRST_RETRY, LONGEST_RETRY, LONGEST_RETRY, Optional.of(remote::usePlacement),
                        Optional.empty()).over(channels)));
        // an expert service whose calls fail is news for the control plane at once, not after its missed heartbeats
        link.ifPresent(member -> remote.whenUnreachable(address -> member.reportUnreachable(address,
                "calls from this attention service fail; its breaker opened")));
        String where = link.isEmpty() ? addresses.toString() : "the services the control plane at "
                + link.get().target() + " places" + (addresses.isEmpty() ? "" : " (until it does: " + addresses + ")");
        Log.infof("serving %s (fingerprint %s) with routed experts on %s; ready in %d ms", config.modelDir(),
                fingerprint, where, (System.nanoTime() - started) / 1_000_000);
        return new Served(model, fingerprint, Optional.of(remote), link);
    }

    /** Asks every expert service what it holds (waiting for those still starting) and builds the placement. */
    static RemoteExperts connect(List<String> addresses, ModelConfig modelConfig, String fingerprint,
                                 AttentionSettings config, MeshChannels channels) {
        List<ExpertClient> clients = new ArrayList<>();
        List<List<int[]>> held = new ArrayList<>();
        long deadline = System.nanoTime() + config.expertConnectTimeout().toNanos();
        for (String address : addresses) {
            ExpertClient client = new ExpertClient(address, channels);
            clients.add(client);
            DescribeResponse d = describeWithin(client, deadline);
            if (!d.getModelFingerprint().equals(fingerprint)) {
                clients.forEach(ExpertClient::close);
                throw new IllegalStateException("expert service " + address + " serves model " + d.getModelFingerprint()
                        + " but this attention service's model " + config.modelDir() + " is " + fingerprint);
            }
            List<int[]> pairs = new ArrayList<>();
            for (LayerExpert le : d.getHeldList()) pairs.add(new int[] {le.getLayer(), le.getExpert()});
            held.add(pairs);
            Log.infof("expert service %s: %d routed experts on %s", address, pairs.size(), d.getBackend());
        }
        PlacementTable placement = PlacementTable.of(1, modelConfig, addresses, held);
        List<String> missing = placement.uncovered(modelConfig, Integer.MAX_VALUE);
        if (!missing.isEmpty()) {
            Log.warnf("%d routed experts are held by no expert service (e.g. layer:expert %s); requests routed to"
                    + " them will fail", missing.size(), missing.subList(0, Math.min(8, missing.size())));
        }
        return new RemoteExperts(modelConfig, clients, placement, fingerprint, config.expertTimeout(),
                config.expertBreaker().openFor(), channels);
    }

    /** The configured weight and cache formats, and the MTP module when speculative decoding drafts with it. */
    private static ModelOptions modelOptions(AttentionSettings config) {
        return ModelOptions.configured().withMtp(config.speculativeTokens() > 0);
    }

    private static DescribeResponse describeWithin(ExpertClient client, long deadline) {
        while (true) {
            try {
                return client.describe(Duration.ofSeconds(5));
            } catch (StatusRuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("expert service " + client.address() + " did not answer Describe: "
                            + e.getStatus().getCode() + " " + e.getStatus().getDescription(), e);
                }
                try {
                    Thread.sleep(250);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while connecting to " + client.address(), ie);
                }
            }
        }
    }

    void closeClients(@Disposes Served served) {
        served.controlPlane().ifPresent(ControlPlaneMember::close);
        served.remote().ifPresent(RemoteExperts::close);
    }

    @Produces
    @Singleton
    EngineLoop engineLoop(Served served, AttentionSettings config, GenerationTraces traces) {
        EngineOptions options = new EngineOptions(config.maxBatchTokens(), config.prefillChunk(), config.maxSequences(),
                config.kvBlockTokens(), config.kvBlocks(), config.microBatches(), config.speculativeTokens(),
                config.speculativeMinAcceptance(), config.speculativeMaxBatch());
        return new EngineLoop(new BatchingEngine(served.model(), options), traces);
    }

    @Produces
    @Singleton
    GenerationTraces generationTraces(Tracer tracer) {
        return new GenerationTraces(tracer);
    }

    void stopLoop(@Disposes EngineLoop loop) {
        loop.close();
    }
}
