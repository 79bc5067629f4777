package dev.moemesh.expert;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;

/** The {@code expert.*} settings of an expert service; see docs/operations.md for the table. */
@ConfigMapping(prefix = "expert")
public interface ExpertServiceConfig {

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
