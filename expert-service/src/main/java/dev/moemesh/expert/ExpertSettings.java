package dev.moemesh.expert;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/** The {@code expert.*} settings of an expert service; see docs/operations.md for the table. */
@ConfigMapping(prefix = "expert")
public interface ExpertSettings {

    /** A Hugging Face checkpoint directory (config.json + safetensors). */
    Path modelDir();

    /** Which (layer, expert) pairs to hold: {@code *} or e.g. {@code 3:0-7,4:0-7}; see ExpertSelection. */
    @WithDefault("*")
    String experts();

    /** {@code auto} (a usable GPU, else the CPU), {@code cpu} or {@code cuda}; see BackendChoice. */
    @WithDefault("auto")
    Backend backend();

    /** Which CUDA device the {@code cuda} backend uses (and {@code auto} probes). */
    @WithDefault("0")
    int cudaDevice();

    /** Requests routed with an older placement are refused (FAILED_PRECONDITION). */
    @WithDefault("0")
    long minPlacementVersion();

    /**
     * The orchestrator's ControlPlane service ({@code host:port}) this service registers with and heartbeats to;
     * unset: it stands alone and callers are configured with its address (see ControlPlaneMembership).
     */
    Optional<String> controlPlane();

    /** Its name in the control plane, stable across restarts of this instance; unset: {@code <hostname>:<gRPC port>}. */
    Optional<String> instanceId();

    /**
     * The {@code host:port} at which the orchestrator and the attention services reach its gRPC server; unset:
     * {@code localhost:<gRPC port>}, right only when they all run on this machine (in Kubernetes: the pod's IP).
     */
    Optional<String> advertisedAddress();

    /** How many routed experts of each MoE layer it can hold (its memory budget in experts); 0: no limit. */
    @WithDefault("0")
    int expertSlots();

    /** The longest wait for the control plane to take it out of the placement when it stops. */
    @WithDefault("10s")
    Duration drainTimeout();

    /** Where the routed experts are computed. */
    enum Backend {
        /** CUDA when a usable device is there, else CPU. */
        AUTO,
        /** core's LocalExperts: Vector API kernels on all cores. */
        CPU,
        /** cuda-experts' CudaExperts: weights in the GPU's memory, kernels through JCuda. */
        CUDA
    }
}
