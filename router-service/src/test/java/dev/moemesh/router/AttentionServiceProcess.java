package dev.moemesh.router;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the router needs before it starts in a {@code @QuarkusTest}: an attention service process on a tiny
 * checkpoint; its address, the checkpoint, an API key and small limits become the router's settings.
 */
public final class AttentionServiceProcess implements QuarkusTestResourceLifecycleManager {
    public static final String API_KEY = "test-key";
    public static final int MAX_BODY_BYTES = 8192;
    public static final int MAX_PROMPT_TOKENS = 64;

    private LocalMesh mesh;
    private Map<String, String> args = Map.of();

    /** Init args: {@code attention.*} keys are the attention service's properties, the others the router's. */
    @Override
    public void init(Map<String, String> initArgs) {
        args = Map.copyOf(initArgs);
    }

    @Override
    public Map<String, String> start() {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("router-service/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        List<String> attentionProperties = args.entrySet().stream().filter(e -> e.getKey().startsWith("attention."))
                .map(e -> "-D" + e.getKey() + "=" + e.getValue()).toList();
        LocalMesh.Service attention = mesh.startAttentionService("attention-router", TestModels.tiny(Preset.TINY_V3),
                List.of(), LocalMesh.freePort(), attentionProperties, Duration.ofMinutes(3));
        Map<String, String> config = new HashMap<>(Map.of("router.model-dir", TestModels.tiny(Preset.TINY_V3).toString(),
                "router.attention-services", attention.address(),
                "router.api-keys", API_KEY,
                "router.max-prompt-tokens", String.valueOf(MAX_PROMPT_TOKENS),
                "quarkus.http.limits.max-body-size", String.valueOf(MAX_BODY_BYTES)));
        args.forEach((k, v) -> {
            if (!k.startsWith("attention.")) config.put(k, v);
        });
        return config;
    }

    @Override
    public void stop() {
        if (mesh != null) mesh.close();
    }
}
