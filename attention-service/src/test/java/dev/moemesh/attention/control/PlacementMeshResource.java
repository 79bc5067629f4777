package dev.moemesh.attention.control;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Two expert-service processes (the packaged expert-service application) that each hold every routed expert of
 * core's tiny V3 checkpoint, and a control plane that places nothing until a test publishes: the attention service
 * under test registers there and follows its placements.
 */
public class PlacementMeshResource implements QuarkusTestResourceLifecycleManager {
    static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    static final String INSTANCE_ID = "attention-under-test";
    static ControlPlaneStandIn controlPlane;
    static LocalMesh.Service expertsA;
    static LocalMesh.Service expertsB;
    private LocalMesh mesh;

    @Override
    public Map<String, String> start() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("attention-service/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        expertsA = mesh.startExpertService("placement-experts-a", MODEL, "*:0-15", LocalMesh.freePort(),
                Duration.ofMinutes(3));
        expertsB = mesh.startExpertService("placement-experts-b", MODEL, "*:0-15", LocalMesh.freePort(),
                Duration.ofMinutes(3));
        controlPlane = new ControlPlaneStandIn(ModelFingerprint.of(MODEL), 200);
        return Map.of("attention.model-dir", MODEL.toString(), "attention.control-plane", controlPlane.address(),
                "attention.instance-id", INSTANCE_ID);
    }

    @Override
    public void stop() {
        try {
            if (controlPlane != null) controlPlane.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (mesh != null) mesh.close();
        }
    }
}
