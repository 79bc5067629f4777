package dev.moemesh.router;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.wire.ApiKeyHashes;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The router under test and what it needs, as processes: an attention service on a tiny checkpoint, and the router
 * in front of it with that checkpoint, an API key (its hash in a key file, without bounds of its own) and small limits.
 */
public final class RouterAndAttentionService implements AutoCloseable {
    public static final String API_KEY = "test-key";
    public static final int MAX_BODY_BYTES = 8192;
    public static final int MAX_PROMPT_TOKENS = 64;

    private final LocalMesh mesh;
    public final LocalMesh.Service attention;
    public final LocalMesh.Service router;

    private RouterAndAttentionService(String name, List<String> attentionProperties, List<String> routerProperties,
                                      List<String> moreKeyLines) {
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        try {
            attention = mesh.startAttentionService(name + "-attention", TestModels.tiny(Preset.TINY_V3), List.of(),
                    LocalMesh.freePort(), attentionProperties, Duration.ofMinutes(3));
            // the key as operators keep it: its hash in a key file, never the key
            Path keys = LocalMesh.home().resolve("integration-tests/target/" + name + "-api-keys.txt");
            Files.createDirectories(keys.getParent());
            Files.writeString(keys, ApiKeyHashes.line("tests", API_KEY) + "\n" + String.join("\n", moreKeyLines) + "\n");
            List<String> routerOptions = new java.util.ArrayList<>(List.of("-Drouter.api-keys-file=" + keys,
                    "-Drouter.max-prompt-tokens=" + MAX_PROMPT_TOKENS,
                    "-Dquarkus.http.limits.max-body-size=" + MAX_BODY_BYTES));
            routerOptions.addAll(routerProperties);
            router = mesh.startRouter(name + "-router", TestModels.tiny(Preset.TINY_V3), List.of(attention.address()),
                    LocalMesh.freePort(), LocalMesh.freePort(), routerOptions, Duration.ofMinutes(3));
        } catch (IOException e) {
            mesh.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            mesh.close();
            throw e;
        }
    }

    /** Starts both; {@code name} prefixes their process names and log files. */
    public static RouterAndAttentionService start(String name) {
        return start(name, List.of(), List.of());
    }

    /** As above, with system properties ({@code -Dkey=value}) of the attention service's and of the router's own. */
    public static RouterAndAttentionService start(String name, List<String> attentionProperties,
                                                  List<String> routerProperties) {
        return new RouterAndAttentionService(name, attentionProperties, routerProperties, List.of());
    }

    /** As above, the key file holding {@code moreKeyLines} after the test key's line (keys with quotas, say). */
    public static RouterAndAttentionService start(String name, List<String> attentionProperties,
                                                  List<String> routerProperties, List<String> moreKeyLines) {
        return new RouterAndAttentionService(name, attentionProperties, routerProperties, moreKeyLines);
    }

    /** The router's REST door, {@code http://localhost:<port>/}. */
    public URI base() {
        return URI.create("http://localhost:" + router.httpPort() + "/");
    }

    @Override
    public void close() {
        mesh.close();
    }
}
