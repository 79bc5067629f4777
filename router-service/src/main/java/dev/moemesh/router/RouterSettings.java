package dev.moemesh.router;

import dev.moemesh.client.GenerationRetry;
import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/** The {@code router.*} settings ({@code docs/operations.md} has the table). */
@ConfigMapping(prefix = "router")
public interface RouterSettings {
    /**
     * The checkpoint served: its tokenizer.json encodes prompts and its chat template renders messages; without a
     * tokenizer.json, only token-id prompts are served.
     */
    Path modelDir();

    /** The name clients send as {@code model}; unset: the model directory's name. */
    Optional<String> modelName();

    List<String> attentionServices();

    /**
     * The orchestrator's control plane (host:port): this router registers there to learn how many routers share each
     * API key's rate and concurrency ({@link RouterPeers}). Unset: this router counts itself alone, and each router
     * of several admits a key's whole bounds.
     */
    Optional<String> controlPlane();

    /** This router's name at the control plane, stable across restarts; default {@code <hostname>:<gRPC port>}. */
    Optional<String> instanceId();

    /** Where clients reach this router's gRPC door, told to the control plane; default {@code localhost:<gRPC port>}. */
    Optional<String> advertisedAddress();

    /**
     * When set, {@code /v1/*} and gRPC require {@code Authorization: Bearer <one of them>}: each {@code sha256:<hex>}
     * of a key, or (warned about) the key itself.
     */
    Optional<List<String>> apiKeys();

    /**
     * A file of admitted keys' hashes, one {@code <name> sha256:<hex>} per line ({@code mesh api-key NAME}), each
     * with any of {@code rate=<n>/<s|m|h> concurrency=<n> max-tokens=<n> max-body=<bytes|K|M>}.
     */
    Optional<Path> apiKeysFile();

    /** The bounds of a key whose line sets none of its own, and of every {@code router.api-keys} key. */
    KeyDefaults keyDefaults();

    /** {@code key-defaults.*}: unset, a key has no bound of its own but the router's. */
    interface KeyDefaults {
        /** Requests per second, minute or hour: {@code <n>/s}, {@code <n>/m}, {@code <n>/h}. */
        Optional<String> rate();

        /** Generations in flight at once (a request of {@code n} choices runs {@code n}). */
        OptionalInt concurrency();

        /** The largest {@code max_tokens} a request may ask for; more is refused (400), never cut. */
        OptionalInt maxTokens();

        /** The largest request body or gRPC message. */
        Optional<MemorySize> maxBody();
    }

    @WithDefault("4096")
    int maxPromptTokens();

    @WithDefault("1024")
    int maxTokens();

    /** Generations both doors run at once; past it they refuse at once (429 + Retry-After, RESOURCE_EXHAUSTED). */
    @WithDefault("512")
    int maxInFlight();

    /** What a refused client is told to wait ({@code Retry-After}, whole seconds). */
    @WithDefault("1s")
    Duration retryAfter();

    /** How a generation the mesh failed runs again on another attention service. */
    AttentionRetry attentionRetry();

    /** {@code attention-retry.*}: the bounds of {@code GenerationRetry} ({@code docs/operations.md}). */
    interface AttentionRetry {
        /** Runs after the first; 0: never again. */
        @WithDefault("6")
        int maxRetries();

        @WithDefault("100ms")
        Duration firstBackoff();

        @WithDefault("2s")
        Duration longestBackoff();

        /** No run starts this long after the first one started. */
        @WithDefault("10M")
        Duration deadline();

        default GenerationRetry policy() {
            return new GenerationRetry(maxRetries(), firstBackoff(), longestBackoff(), deadline());
        }
    }
}
