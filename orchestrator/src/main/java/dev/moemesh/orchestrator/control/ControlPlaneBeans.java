package dev.moemesh.orchestrator.control;

import dev.moemesh.orchestrator.OrchestratorSettings;
import dev.moemesh.orchestrator.membership.ServedModel;
import dev.moemesh.tls.MeshChannels;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.time.Clock;

/** The application's one {@link ControlPlane}, started and closed with the application. */
@ApplicationScoped
public class ControlPlaneBeans {

    @Produces
    @Singleton
    @Startup
    ControlPlane controlPlane(OrchestratorSettings settings, MeterRegistry metrics, MeshChannels channels) {
        var c = settings.controlPlane();
        var options = new ControlPlaneOptions(c.heartbeatInterval(), c.missedHeartbeats(), c.rebalanceInterval(),
                c.minImprovement(), c.minReplicas(), c.redundantReplicas(), c.moveTolerance(), c.loadHalfLife(),
                c.expertLoadTimeout(), c.unloadGrace(), c.expertGroupSize(), c.settleTime());
        ControlPlane cp = ControlPlane.start(options, settings.modelDir().map(ServedModel::read), Clock.systemUTC(),
                channels);
        ControlPlaneMetrics.register(cp, metrics);
        return cp;
    }

    void close(@Disposes ControlPlane cp) {
        cp.close();
    }
}
