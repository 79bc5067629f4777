package dev.moemesh.expert.health;

import dev.moemesh.expert.control.ControlPlaneMembership;
import dev.moemesh.expert.held.HeldExperts;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready once the configured experts are loaded and at least one is held. Where the service is a member of a control
 * plane, its data says how that stands; an unreachable orchestrator does not make it unready, as callers configured
 * with its address can still use it.
 */
@Readiness
@ApplicationScoped
public class ExpertsLoadedCheck implements HealthCheck {
    private final HeldExperts held;
    private final ControlPlaneMembership membership;

    ExpertsLoadedCheck(HeldExperts held, ControlPlaneMembership membership) {
        this.held = held;
        this.membership = membership;
    }

    @Override
    public HealthCheckResponse call() {
        int count = held.held().size();
        HealthCheckResponseBuilder response = HealthCheckResponse.named("experts-loaded").status(count > 0)
                .withData("experts", count).withData("model_fingerprint", held.fingerprint());
        membership.status().ifPresent(status -> response.withData("control_plane", status));
        return response.build();
    }
}
