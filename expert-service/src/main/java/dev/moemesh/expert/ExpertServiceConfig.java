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

    @WithDefault("cpu")
    Backend backend();

    /** Requests routed with an older placement are refused (FAILED_PRECONDITION). */
    @WithDefault("0")
    long minPlacementVersion();

    /** Where the routed experts are computed. */
    enum Backend {
        /** core's LocalExperts: Vector API kernels on all cores. */
        CPU
    }
}
