package dev.moemesh.attention.health;

import dev.moemesh.attention.AttentionBeans.Served;
import dev.moemesh.attention.experts.PlacementTable;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.List;

/**
 * Ready when the model is loaded and every routed expert has at least one expert service holding it; with a
 * control plane, not before a placement from it (or from the configured services) is in use.
 */
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
        PlacementTable placement = served.remote().get().placement();
        if (placement.version() == 0 && served.controlPlane().isPresent()) {
            return builder.down().withData("reason", "no placement from the control plane at "
                    + served.controlPlane().get().target() + " yet").build();
        }
        builder.withData("placement version", placement.version());
        List<String> missing = placement.uncovered(served.model().config(), 8);
        return missing.isEmpty() ? builder.up().build()
                : builder.down().withData("unplaced (layer:expert)", String.join(",", missing)).build();
    }
}
