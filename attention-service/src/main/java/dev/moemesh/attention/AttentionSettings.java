package dev.moemesh.attention;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** The {@code attention.*} settings of an attention service; docs/operations.md has the table. */
@ConfigMapping(prefix = "attention")
public interface AttentionSettings {

    /** A Hugging Face checkpoint directory (config.json + safetensors). */
    Path modelDir();

    /**
     * gRPC addresses (host:port) of the expert services; each tells what it holds (Describe) and together they
     * are the placement. Unset, and no control plane: the routed experts are computed in this process.
     */
    Optional<List<String>> expertServices();

    /**
     * The orchestrator's control plane (host:port): this service registers there and takes each placement it
     * publishes; the expert services may then be left unset. Unset: the placement is the expert services'.
     */
    Optional<String> controlPlane();

    /** This service's name at the control plane, stable across restarts; default {@code <hostname>:<gRPC port>}. */
    Optional<String> instanceId();

    /** Where others reach this service's gRPC server, told to the control plane; default {@code localhost:<gRPC port>}. */
    Optional<String> advertisedAddress();

    /** How long one layer's expert call may take, re-sends to other replicas included, before its step fails. */
    @WithDefault("30s")
    Duration expertTimeout();

    /**
     * How long a step whose routed expert has no live replica waits for a placement that serves it again (the control
     * plane re-placing a dead service's experts) before its rows end with the error; 0 ends them at once.
     */
    @WithDefault("30s")
    Duration expertHealTimeout();

    /** The circuit breaker each expert service has in this attention service. */
    ExpertBreaker expertBreaker();

    /** How long start-up waits for every expert service to answer Describe. */
    @WithDefault("60s")
    Duration expertConnectTimeout();

    /** Served context (prompt + generated); 0 = the config's max_position_embeddings. */
    @WithDefault("0")
    int maxSeqLen();

    @WithDefault("512")
    int maxBatchTokens();

    @WithDefault("256")
    int prefillChunk();

    @WithDefault("64")
    int maxSequences();

    /**
     * Generations that may wait beyond a full batch; past max-sequences + this, Generate is refused
     * RESOURCE_EXHAUSTED (the doors answer 429 / RESOURCE_EXHAUSTED, the Kafka door retries with the record held).
     */
    @WithDefault("64")
    int maxQueuedRequests();

    @WithDefault("16")
    int kvBlockTokens();

    @WithDefault("2048")
    int kvBlocks();

    /**
     * 2 splits each step into two micro-batches that take turns on the cores, one computing while the other's
     * routed experts are away; 1 runs each step whole.
     */
    @WithDefault("1")
    int microBatches();

    /**
     * Tokens the checkpoint's multi-token-prediction module drafts per greedy sequence and step, verified by the next
     * step (speculative decoding: the same tokens in fewer steps); 0 turns it off. Needs a checkpoint with an MTP
     * layer, whose routed experts are then called like any layer's.
     */
    @WithDefault("0")
    int speculativeTokens();

    /**
     * The share of its drafts a sequence must have accepted, once it has drafted 16 tokens, to go on drafting; below
     * it, it decodes one token a step from then on (drafts that are rarely right cost a step more than they save). 0
     * never stops drafting. Where a step with drafts costs much more than one without (a CPU, a shallow model: the
     * MTP layer is a large share of it), raise it.
     */
    @WithDefault("0.3")
    double speculativeMinAcceptance();

    /**
     * A greedy sequence that arrives while more than this many are in the engine (running and queued, itself
     * included) never drafts, as vLLM's {@code disable_by_batch_size}: at large batches a verify step's extra rows
     * cost compute and drafting loses (on two CPU cores from batch 16 to 32). Its tokens are the same either way.
     * Sampled sequences draft whatever the load, so that their seed reproduces their answer. 0 sets no limit.
     */
    @WithDefault("0")
    int speculativeMaxBatch();

    /** The {@code attention.expert-breaker.*} settings. */
    interface ExpertBreaker {

        /**
         * How long an expert service whose call failed is passed over while a replica can take its work; then one
         * call probes it (its answer puts it back in use).
         */
        @WithDefault("2s")
        Duration openFor();
    }
}
