package dev.moemesh.router;

import dev.moemesh.wire.ApiKeyHashes;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The API keys both doors admit, held only as SHA-256 hashes: from {@code router.api-keys-file} (one key per line,
 * {@code <name> sha256:<64 hex digits>}, as {@code mesh api-key NAME} prints it; a Kubernetes Secret mounted as a
 * file) and from {@code router.api-keys} (each {@code sha256:<hex>}, or a plain key, which is hashed at start and
 * warned about). With no key set, both doors are open. A refused attempt is counted
 * ({@code moemesh_router_auth_failures_total{door,reason}}) and logged by the presented key's fingerprint (the first 8
 * hex digits of its hash), never by the key.
 */
@Singleton
public class ApiKeys {
    private static final Logger LOG = Logger.getLogger(ApiKeys.class);
    private static final String SHA256 = ApiKeyHashes.PREFIX;

    private final Map<String, String> nameByHash;
    private final MeterRegistry registry;

    @Inject
    public ApiKeys(RouterSettings settings, MeterRegistry registry) {
        this(settings.apiKeys().orElse(List.of()), settings.apiKeysFile(), registry);
    }

    ApiKeys(List<String> configured, Optional<Path> file, MeterRegistry registry) {
        this.registry = registry;
        Map<String, String> keys = new HashMap<>();
        int plain = 0;
        for (int i = 0; i < configured.size(); i++) {
            String entry = configured.get(i).strip();
            if (entry.isEmpty()) continue;
            if (entry.startsWith(SHA256)) {
                keys.put(hashOf(entry, "router.api-keys[" + i + "]"), "router.api-keys[" + i + "]");
            } else {
                keys.put(ApiKeyHashes.hash(entry), "router.api-keys[" + i + "]");
                plain++;
            }
        }
        if (plain > 0) {
            LOG.warnf("router.api-keys holds %d key(s) in plain text: keep their hashes instead (mesh api-key NAME prints"
                    + " one; router.api-keys-file, docs/security.md)", plain);
        }
        file.ifPresent(f -> keys.putAll(read(f)));
        this.nameByHash = Map.copyOf(keys);
    }

    /**
     * Why a request with this {@code Authorization} value (null when absent) is refused at {@code door}
     * ({@code rest} or {@code grpc}); empty when it may pass.
     */
    public Optional<String> refusal(String authorization, String door) {
        if (nameByHash.isEmpty()) return Optional.empty();
        String key = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).strip() : null;
        if (key == null || key.isEmpty()) {
            refused(door, "missing", null);
            return Optional.of("no API key: send the header 'Authorization: Bearer <key>'");
        }
        String hash = ApiKeyHashes.hash(key);
        if (nameByHash.containsKey(hash)) return Optional.empty();
        refused(door, "unknown", hash);
        return Optional.of("the API key is not valid");
    }

    private void refused(String door, String reason, String hash) {
        Counter.builder("moemesh_router_auth_failures").description("Requests refused for a missing or unknown API key")
                .tag("door", door).tag("reason", reason).register(registry).increment();
        LOG.infof("refused a %s request: %s API key%s", door, reason,
                hash == null ? "" : " (fingerprint " + hash.substring(0, 8) + ")");
    }

    private static Map<String, String> read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("router.api-keys-file " + file + " cannot be read: " + e.getMessage(), e);
        }
        Map<String, String> keys = new HashMap<>();
        for (int n = 1; n <= lines.size(); n++) {
            String line = lines.get(n - 1).strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] parts = line.split("\\s+");
            String where = file + " line " + n;
            if (parts.length != 2) {
                throw new IllegalArgumentException(where + ": expected '<name> sha256:<64 hex digits>' (mesh api-key NAME"
                        + " prints such a line), got " + parts.length + " fields");
            }
            if (keys.put(hashOf(parts[1], where), parts[0]) != null) {
                throw new IllegalArgumentException(where + ": the key of '" + parts[0] + "' is listed twice");
            }
        }
        return keys;
    }

    private static String hashOf(String entry, String where) {
        String hex = entry.startsWith(SHA256) ? entry.substring(SHA256.length()).toLowerCase(Locale.ROOT) : "";
        if (hex.length() != 64 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw new IllegalArgumentException(where + ": expected sha256: and 64 hex digits (never the key itself)");
        }
        return hex;
    }
}
