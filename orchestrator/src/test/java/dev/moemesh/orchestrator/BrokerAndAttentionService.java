package dev.moemesh.orchestrator;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * What the orchestrator application needs before it starts in a {@code @QuarkusTest}: an in-process Kafka broker and
 * an attention service process on a tiny checkpoint; their addresses become its settings.
 */
public final class BrokerAndAttentionService implements QuarkusTestResourceLifecycleManager {
    private TestBroker kafka;
    private LocalMesh mesh;

    @Override
    public Map<String, String> start() {
        kafka = TestBroker.start();
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("orchestrator/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        LocalMesh.Service attention = mesh.startAttentionService("attention-app", TestModels.tiny(Preset.TINY_V3),
                List.of(), LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
        return Map.of("orchestrator.bootstrap-servers", kafka.bootstrapServers(),
                "orchestrator.attention-services", attention.address());
    }

    @Override
    public void stop() {
        if (mesh != null) mesh.close();
        try {
            if (kafka != null) kafka.close();
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop the test broker: " + e.getMessage(), e);
        }
    }
}
