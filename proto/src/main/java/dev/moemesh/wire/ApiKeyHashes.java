package dev.moemesh.wire;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;

/**
 * The router's API key file, {@code router.api-keys-file}: one admitted key per line as {@code <name> sha256:<hex>},
 * the SHA-256 of the key's UTF-8 bytes in lower-case hex, so the file (or the Secret it is mounted from) never holds a
 * key. {@code mesh api-key NAME} writes such lines; the router reads them.
 */
public final class ApiKeyHashes {
    public static final String PREFIX = "sha256:";
    private static final SecureRandom RANDOM = new SecureRandom();

    private ApiKeyHashes() {
    }

    /** The hex SHA-256 of a key, as a line holds it after {@link #PREFIX}. */
    public static String hash(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** A new key: 32 random bytes, URL-safe base64, after {@code mm-} so it is recognisable in a leak scan. */
    public static String newKey() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return "mm-" + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /** The key file's line for {@code key} under {@code name}. */
    public static String line(String name, String key) {
        if (name.isBlank() || name.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("a key's name is one word, got '" + name + "'");
        }
        return name + " " + PREFIX + hash(key);
    }
}
