package dev.moemesh.expert.health;

import dev.moemesh.expert.held.HeldExperts;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the configured experts are loaded and at least one is held. */
@Readiness
@ApplicationScoped
public class ExpertsLoadedCheck implements HealthCheck {
    private final HeldExperts held;

    ExpertsLoadedCheck(HeldExperts held) {
        this.held = held;
    }

    @Override
    public HealthCheckResponse call() {
        int count = held.held().size();
        return HealthCheckResponse.named("experts-loaded").status(count > 0)
                .withData("experts", count).withData("model_fingerprint", held.fingerprint()).build();
    }
}
