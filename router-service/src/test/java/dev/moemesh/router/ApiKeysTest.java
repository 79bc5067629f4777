package dev.moemesh.router;

import dev.moemesh.wire.ApiKeyHashes;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiKeysTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @TempDir
    Path dir;

    @Test
    void aKeyFileOfHashesAdmitsItsKeysAndNothingElse() throws IOException {
        Path file = Files.writeString(dir.resolve("keys"), "# team keys\nalice sha256:" + ApiKeyHashes.hash("key-a")
                + "\n\nbob   SHA256:".toLowerCase() + ApiKeyHashes.hash("key-b").toUpperCase() + "\n");
        ApiKeys keys = new ApiKeys(List.of(), Optional.of(file), registry);

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
        ApiKeys keys = new ApiKeys(List.of("sha256:" + ApiKeyHashes.hash("k")), Optional.empty(), registry);

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
        ApiKeys keys = new ApiKeys(List.of("plain-key"), Optional.empty(), registry);

        assertEquals(Optional.empty(), keys.refusal("Bearer plain-key", "rest"));
        assertTrue(keys.refusal("Bearer other", "rest").isPresent());
    }

    @Test
    void withoutKeysBothDoorsAreOpen() {
        assertEquals(Optional.empty(), new ApiKeys(List.of(), Optional.empty(), registry).refusal(null, "rest"));
    }

    @Test
    void aMalformedKeyFileStopsTheStartNamingTheLine() throws IOException {
        Path twoFields = Files.writeString(dir.resolve("keys"), "alice sha256:" + ApiKeyHashes.hash("a") + "\nbob key-b\n");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(twoFields), registry));
        assertTrue(error.getMessage().startsWith(twoFields + " line 2: expected sha256:"), error.getMessage());

        Path twice = Files.writeString(dir.resolve("twice"), "a sha256:" + ApiKeyHashes.hash("x") + "\nb sha256:"
                + ApiKeyHashes.hash("x") + "\n");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(twice), registry)).getMessage().contains("listed twice"));

        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new ApiKeys(List.of(), Optional.of(dir.resolve("absent")), registry)).getMessage()
                .contains("cannot be read"));
    }
}
