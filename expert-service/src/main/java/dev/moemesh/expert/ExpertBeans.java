package dev.moemesh.expert;

import dev.moemesh.cuda.CudaProbe;
import dev.moemesh.expert.held.ExpertSelection;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.logging.Log;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/** Builds the service's plain objects from its configuration; the experts are loaded at start, before serving. */
@ApplicationScoped
public class ExpertBeans {

    @Produces
    @Singleton
    BackendChoice backendChoice(ExpertSettings config) {
        BackendChoice choice = BackendChoice.decide(config.backend(), config.cudaDevice(),
                () -> CudaProbe.of(config.cudaDevice()));
        if (config.backend() != ExpertSettings.Backend.CPU) Log.info(choice.reason());
        return choice;
    }

    @Produces
    @Singleton
    @Startup
    HeldExperts heldExperts(ExpertSettings config, BackendChoice backend, ExpertTokenCounters counters) {
        long started = System.nanoTime();
        HeldExperts held = HeldExperts.open(config.modelDir(), ExpertSelection.parse(config.experts()), backend::open);
        held.held().forEach(counters::track);
        Log.infof("backend %s on %s: holding %d routed experts of %s (fingerprint %s), loaded in %d ms",
                backend.name(), held.backend().device(), held.held().size(), config.modelDir(), held.fingerprint(),
                (System.nanoTime() - started) / 1_000_000);
        return held;
    }

    void closeCheckpoint(@Disposes HeldExperts held) {
        held.close();
    }

    @Produces
    @Singleton
    ExpertTokenCounters counters(MeterRegistry registry) {
        return new ExpertTokenCounters(registry);
    }
}
