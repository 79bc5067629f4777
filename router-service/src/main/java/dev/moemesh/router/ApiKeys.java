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
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The API keys both doors admit, held only as SHA-256 hashes, each with its {@link KeyQuota}: from
 * {@code router.api-keys-file} (one key per line, {@code <name> sha256:<64 hex digits> [rate=<n>/<s|m|h>]
 * [concurrency=<n>] [max-tokens=<n>] [max-body=<bytes|K|M>]}; a Kubernetes Secret mounted as a file) and from
 * {@code router.api-keys} (each {@code sha256:<hex>}, or a plain key, which is hashed at start and warned about); a
 * bound a line leaves out is {@code router.key-defaults.*}. With no key set, both doors are open. A refused attempt is
 * counted ({@code moemesh_router_auth_failures_total{door,reason}}) and logged by the presented key's fingerprint (the
 * first 8 hex digits of its hash), never by the key.
 */
@Singleton
public class ApiKeys {
    private static final Logger LOG = Logger.getLogger(ApiKeys.class);
    private static final String SHA256 = ApiKeyHashes.PREFIX;

    private final Map<String, KeyQuota> quotaByHash;
    private final KeyQuota open;
    private final MeterRegistry registry;

    @Inject
    public ApiKeys(RouterSettings settings, RouterPeers peers, MeterRegistry registry) {
        this(settings.apiKeys().orElse(List.of()), settings.apiKeysFile(), KeyLimits.defaults(settings.keyDefaults()),
                settings.retryAfter(), peers, registry);
    }

    /** Keys of a router that shares them with no other. */
    ApiKeys(List<String> configured, Optional<Path> file, KeyLimits defaults, Duration retryAfter,
            MeterRegistry registry) {
        this(configured, file, defaults, retryAfter, RouterPeers.alone(registry), registry);
    }

    ApiKeys(List<String> configured, Optional<Path> file, KeyLimits defaults, Duration retryAfter, RouterPeers peers,
            MeterRegistry registry) {
        this.registry = registry;
        Map<String, KeyQuota> keys = new HashMap<>();
        int plain = 0;
        for (int i = 0; i < configured.size(); i++) {
            String entry = configured.get(i).strip();
            if (entry.isEmpty()) continue;
            String name = "router.api-keys[" + i + "]";
            String hash = entry.startsWith(SHA256) ? hashOf(entry, name) : ApiKeyHashes.hash(entry);
            if (!entry.startsWith(SHA256)) plain++;
            keys.put(hash, new KeyQuota(name, name, KeyLimits.NONE, defaults, retryAfter, peers, registry));
        }
        if (plain > 0) {
            LOG.warnf("router.api-keys holds %d key(s) in plain text: keep their hashes instead (mesh api-key NAME prints"
                    + " one; router.api-keys-file, docs/security.md)", plain);
        }
        file.ifPresent(f -> keys.putAll(read(f, defaults, retryAfter, peers, registry)));
        this.quotaByHash = Map.copyOf(keys);
        this.open = keys.isEmpty() ? KeyQuota.unbounded(registry) : null;
    }

    /**
     * The quota of the key in this {@code Authorization} value, once {@link #refusal} let it pass; with the doors open,
     * one without bounds.
     */
    public KeyQuota quotaOf(String authorization) {
        if (open != null) return open;
        KeyQuota quota = quotaByHash.get(ApiKeyHashes.hash(bearer(authorization)));
        if (quota == null) throw new IllegalStateException("an API key the doors refuse has no quota: check refusal first");
        return quota;
    }

    /**
     * Why a request with this {@code Authorization} value (null when absent) is refused at {@code door}
     * ({@code rest} or {@code grpc}); empty when it may pass.
     */
    public Optional<String> refusal(String authorization, String door) {
        if (quotaByHash.isEmpty()) return Optional.empty();
        String key = bearer(authorization);
        if (key.isEmpty()) {
            refused(door, "missing", null);
            return Optional.of("no API key: send the header 'Authorization: Bearer <key>'");
        }
        String hash = ApiKeyHashes.hash(key);
        if (quotaByHash.containsKey(hash)) return Optional.empty();
        refused(door, "unknown", hash);
        return Optional.of("the API key is not valid");
    }

    private static String bearer(String authorization) {
        return authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).strip() : "";
    }

    private void refused(String door, String reason, String hash) {
        Counter.builder("moemesh_router_auth_failures").description("Requests refused for a missing or unknown API key")
                .tag("door", door).tag("reason", reason).register(registry).increment();
        LOG.infof("refused a %s request: %s API key%s", door, reason,
                hash == null ? "" : " (fingerprint " + hash.substring(0, 8) + ")");
    }

    private static Map<String, KeyQuota> read(Path file, KeyLimits defaults, Duration retryAfter, RouterPeers peers,
                                              MeterRegistry registry) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("router.api-keys-file " + file + " cannot be read: " + e.getMessage(), e);
        }
        Map<String, KeyQuota> keys = new HashMap<>();
        Set<String> names = new HashSet<>();
        for (int n = 1; n <= lines.size(); n++) {
            String line = lines.get(n - 1).strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] parts = line.split("\\s+");
            String where = file + " line " + n;
            if (parts.length < 2) {
                throw new IllegalArgumentException(where + ": expected '<name> sha256:<64 hex digits>' (mesh api-key NAME"
                        + " prints such a line) and any of rate=, concurrency=, max-tokens=, max-body=; got "
                        + parts.length + " field");
            }
            KeyLimits own = KeyLimits.parse(Arrays.asList(parts).subList(2, parts.length), where);
            if (!names.add(parts[0])) {
                throw new IllegalArgumentException(where + ": the name '" + parts[0] + "' is taken by an earlier line"
                        + " (metrics and logs tell keys by name)");
            }
            KeyQuota quota = new KeyQuota(parts[0], where, own, defaults, retryAfter, peers, registry);
            if (keys.put(hashOf(parts[1], where), quota) != null) {
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
