package dev.moemesh.attention.health;

import dev.moemesh.attention.AttentionServiceBeans.Served;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.List;

/** Ready when the model is loaded and every routed expert has at least one expert service holding it. */
@Readiness
@ApplicationScoped
public class ExpertsReachableCheck implements HealthCheck {
    private final Served served;

    ExpertsReachableCheck(Served served) {
        this.served = served;
    }

    @Override
    public HealthCheckResponse call() {
        var builder = HealthCheckResponse.named("experts-placed").withData("fingerprint", served.fingerprint());
        if (served.remote().isEmpty()) return builder.up().withData("experts", "in process").build();
        List<String> missing = served.remote().get().placement().uncovered(served.model().config(), 8);
        return missing.isEmpty() ? builder.up().build()
                : builder.down().withData("unplaced (layer:expert)", String.join(",", missing)).build();
    }
}
