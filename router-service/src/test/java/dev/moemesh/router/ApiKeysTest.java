package dev.moemesh.router;

import dev.moemesh.wire.ApiKeyHashes;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiKeysTest {
    private static final Duration RETRY_AFTER = Duration.ofSeconds(1);
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @TempDir
    Path dir;

    @Test
    void aKeyFileOfHashesAdmitsItsKeysAndNothingElse() throws IOException {
        Path file = Files.writeString(dir.resolve("keys"), "# team keys\nalice sha256:" + ApiKeyHashes.hash("key-a")
                + "\n\nbob   SHA256:".toLowerCase() + ApiKeyHashes.hash("key-b").toUpperCase() + "\n");
        ApiKeys keys = new ApiKeys(List.of(), Optional.of(file), KeyLimits.NONE, RETRY_AFTER, registry);

        assertEquals(Optional.empty(), keys.refusal("Bearer key-a", "rest"));
        assertEquals(Optional.empty(), keys.refusal("bearer key-b", "grpc"));
        assertEquals(Optional.of("the API key is not valid"), keys.refusal("Bearer key-c", "rest"));
        assertEquals(Optional.of("the API key is not valid"), keys.refusal("Bearer " + ApiKeyHashes.hash("key-a"), "rest"),
                "the hash itself is not a key");
        assertTrue(keys.refusal(null, "grpc").orElseThrow().startsWith("no API key"));
        assertFalse(Files.readString(file).contains("key-a"), "the file holds no key");
    }

    @Test
    void refusalsAreCountedByDoorAndReason() throws IOException {
        ApiKeys keys = new ApiKeys(List.of("sha256:" + ApiKeyHashes.hash("k")), Optional.empty(), KeyLimits.NONE,
                RETRY_AFTER, registry);

        keys.refusal("Bearer wrong", "rest");
        keys.refusal("Bearer wrong", "rest");
        keys.refusal(null, "grpc");
        keys.refusal("Bearer k", "rest");

        assertEquals(2.0, registry.get("moemesh_router_auth_failures").tags("door", "rest", "reason", "unknown")
                .counter().count());
        assertEquals(1.0, registry.get("moemesh_router_auth_failures").tags("door", "grpc", "reason", "missing")
                .counter().count());
    }

    @Test
    void plainKeysInConfigurationStillWork() {
        ApiKeys keys = new ApiKeys(List.of("plain-key"), Optional.empty(), KeyLimits.NONE, RETRY_AFTER, registry);

        assertEquals(Optional.empty(), keys.refusal("Bearer plain-key", "rest"));
        assertTrue(keys.refusal("Bearer other", "rest").isPresent());
    }

    @Test
    void withoutKeysBothDoorsAreOpen() {
        assertEquals(Optional.empty(), new ApiKeys(List.of(), Optional.empty(), KeyLimits.NONE, RETRY_AFTER, registry)
                .refusal(null, "rest"));
    }

    @Test
    void aMalformedKeyFileStopsTheStartNamingTheLine() throws IOException {
        Path twoFields = Files.writeString(dir.resolve("keys"), "alice sha256:" + ApiKeyHashes.hash("a") + "\nbob key-b\n");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(twoFields), KeyLimits.NONE, RETRY_AFTER, registry));
        assertTrue(error.getMessage().startsWith(twoFields + " line 2: expected sha256:"), error.getMessage());

        Path twice = Files.writeString(dir.resolve("twice"), "a sha256:" + ApiKeyHashes.hash("x") + "\nb sha256:"
                + ApiKeyHashes.hash("x") + "\n");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(twice), KeyLimits.NONE, RETRY_AFTER, registry)).getMessage().contains("listed twice"));

        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(dir.resolve("absent")), KeyLimits.NONE, RETRY_AFTER, registry))
                .getMessage().contains("cannot be read"));
    }

    @Test
    void eachKeyHasTheBoundsOfItsLineAndTheDefaultsForTheRest() throws IOException {
        Path file = Files.writeString(dir.resolve("keys"), "alice sha256:" + ApiKeyHashes.hash("a")
                + " max-tokens=8 max-body=1K\nbob sha256:" + ApiKeyHashes.hash("b") + "\n");
        KeyLimits defaults = KeyLimits.parse(List.of("max-tokens=32", "concurrency=2"), "router.key-defaults");
        ApiKeys keys = new ApiKeys(List.of("sha256:" + ApiKeyHashes.hash("c")), Optional.of(file), defaults, RETRY_AFTER,
                registry);

        KeyQuota alice = keys.quotaOf("Bearer a");
        assertEquals("alice", alice.name());
        assertEquals(8, alice.maxTokens(null, 16, "max_tokens", "rest"), "a request that says nothing gets the bound");
        QuotaRefusal over = assertThrows(QuotaRefusal.class, () -> alice.maxTokens(9L, 16, "max_tokens", "rest"));
        assertTrue(over.getMessage().contains("max-tokens of 8 (" + file + " line 1)"), over.getMessage());
        assertThrows(QuotaRefusal.class, () -> alice.checkSize(1025, "rest"));
        alice.checkSize(1024, "rest");

        KeyQuota bob = keys.quotaOf("Bearer b");
        QuotaRefusal defaulted = assertThrows(QuotaRefusal.class, () -> bob.maxTokens(33L, 16, "max_tokens", "rest"));
        assertTrue(defaulted.getMessage().contains("router.key-defaults.max-tokens"), defaulted.getMessage());
        bob.take(2, "rest");
        assertEquals(QuotaRefusal.Reason.CONCURRENCY, assertThrows(QuotaRefusal.class, () -> bob.take(1, "grpc")).reason());

        KeyQuota configured = keys.quotaOf("Bearer c");
        assertEquals(32, configured.maxTokens(null, 1024, "max_tokens", "rest"), "router.api-keys get the defaults");
    }

    @Test
    void aKeyLineWithAnUnknownOrMalformedBoundStopsTheStartNamingIt() throws IOException {
        for (String bound : List.of("rate=2/d", "rate=x/s", "concurrency=0", "max-body=lots", "burst=3")) {
            Path file = Files.writeString(dir.resolve("keys"), "alice sha256:" + ApiKeyHashes.hash("a") + " " + bound
                    + "\n");
            String error = assertThrows(IllegalArgumentException.class, () -> new ApiKeys(List.of(), Optional.of(file),
                    KeyLimits.NONE, RETRY_AFTER, registry)).getMessage();
            assertTrue(error.startsWith(file + " line 1: "), error);
            assertTrue(error.contains(bound.substring(bound.indexOf('=') + 1)), error);
        }
    }
}
