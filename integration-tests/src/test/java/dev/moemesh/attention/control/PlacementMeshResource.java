package dev.moemesh.attention.control;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.testing.ControlPlaneStandIn;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Two expert-service processes (the packaged expert-service application) that each hold every routed expert of
 * core's tiny V3 checkpoint, a control plane that places nothing until a test publishes, and the attention service
 * under test, a process that registers there and follows its placements.
 */
final class PlacementMeshResource {
    static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    static final String INSTANCE_ID = "attention-under-test";
    static ControlPlaneStandIn controlPlane;
    static LocalMesh.Service expertsA;
    static LocalMesh.Service expertsB;
    static LocalMesh.Service attention;
    private static LocalMesh mesh;
    private static LocalMesh underTest;

    private PlacementMeshResource() {}

    static void start() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        expertsA = mesh.startExpertService("placement-experts-a", MODEL, "*:0-15", LocalMesh.freePort(),
                Duration.ofMinutes(3));
        expertsB = mesh.startExpertService("placement-experts-b", MODEL, "*:0-15", LocalMesh.freePort(),
                Duration.ofMinutes(3));
        controlPlane = new ControlPlaneStandIn(ModelFingerprint.of(MODEL), 200);
        // the service under test with the JIT's full tiers, as it ran inside the test JVM before it became a process:
        // its expert-call meters are compared part by part
        underTest = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx1g"));
        attention = underTest.startAttentionService("placement-attention", MODEL, List.of(), LocalMesh.freePort(),
                List.of("-Dattention.control-plane=" + controlPlane.address(), "-Dattention.instance-id=" + INSTANCE_ID),
                Duration.ofMinutes(3));
    }

    static void stop() {
        try {
            if (controlPlane != null) controlPlane.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (underTest != null) underTest.close();
            if (mesh != null) mesh.close();
        }
    }
}
