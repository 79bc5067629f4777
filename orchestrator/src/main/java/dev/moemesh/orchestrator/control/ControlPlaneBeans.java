package dev.moemesh.orchestrator.control;

import dev.moemesh.orchestrator.OrchestratorSettings;
import dev.moemesh.orchestrator.ingest.KafkaClients;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.tls.MeshChannels;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.time.Clock;
import java.util.Map;

/**
 * The application's one {@link ControlPlane}, started and closed with the application; with
 * {@code orchestrator.control-plane.election=kafka}, standing by until its {@link ControlPlaneElection} elects it.
 */
@ApplicationScoped
public class ControlPlaneBeans {
    private ControlPlaneElection election; // null: this orchestrator always leads

    @Produces
    @Singleton
    @Startup
    ControlPlane controlPlane(OrchestratorSettings settings, MeterRegistry metrics, MeshChannels channels,
                              @Identifier("default-kafka-broker") Map<String, Object> kafkaSettings) {
        var c = settings.controlPlane();
        var options = new ControlPlaneOptions(c.heartbeatInterval(), c.missedHeartbeats(), c.rebalanceInterval(),
                c.minImprovement(), c.minReplicas(), c.redundantReplicas(), c.moveTolerance(), c.loadHalfLife(),
                c.expertLoadTimeout(), c.unloadGrace(), c.expertGroupSize(), c.settleTime());
        ControlPlane cp = ControlPlane.start(options, settings.modelDir().map(ServedModel::read), Clock.systemUTC(),
                channels);
        ControlPlaneMetrics.register(cp, metrics);
        if (c.election() == OrchestratorSettings.Election.KAFKA) {
            election = ControlPlaneElection.start(new KafkaClients(kafkaSettings), settings.groupId() + ".control-plane",
                    c.electionTopic(), cp);
        }
        return cp;
    }

    void close(@Disposes ControlPlane cp) {
        if (election != null) election.close();
        cp.close();
    }
}
