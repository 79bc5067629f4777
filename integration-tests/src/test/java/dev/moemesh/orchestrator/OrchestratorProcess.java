package dev.moemesh.orchestrator;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;

import java.time.Duration;
import java.util.List;

/**
 * The packaged orchestrator application as a process, and what it runs on: a Kafka broker in this JVM
 * ({@link TestBroker}) and an attention service process on a tiny checkpoint.
 */
public final class OrchestratorProcess implements AutoCloseable {
    public final TestBroker kafka;
    private final LocalMesh mesh;
    public final LocalMesh.Service attention;
    public final LocalMesh.Service orchestrator;
    /** Its ControlPlane service's port. */
    public final int controlPort = LocalMesh.freePort();

    private OrchestratorProcess() {
        kafka = TestBroker.start();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        try {
            attention = mesh.startAttentionService("attention-app", TestModels.tiny(Preset.TINY_V3), List.of(),
                    LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
            // no orchestrator.model-dir (an empty value is none): the control plane learns the model from registrations
            orchestrator = mesh.startOrchestrator("orchestrator-app", TestModels.tiny(Preset.TINY_V3),
                    kafka.bootstrapServers(), List.of(attention.address()), LocalMesh.freePort(), controlPort,
                    List.of("-Dorchestrator.model-dir="), Duration.ofMinutes(3));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public static OrchestratorProcess start() {
        return new OrchestratorProcess();
    }

    @Override
    public void close() {
        mesh.close();
        try {
            kafka.close();
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop the test broker: " + e.getMessage(), e);
        }
    }
}
