package dev.moemesh.expert;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.cuda.CudaExperts;
import dev.moemesh.cuda.CudaProbe;
import dev.moemesh.expert.ExpertSettings.Backend;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * The expert backend this service runs on, decided once at start: {@code cpu} as configured, {@code cuda} as
 * configured (refused when no usable device exists), or for {@code auto} the GPU when one is usable and the CPU
 * otherwise. {@code reason} is the line the service logs about it.
 *
 * @param backend CPU or CUDA, never AUTO
 */
public record BackendChoice(Backend backend, int cudaDevice, String reason) {

    /** Probes the device only when the configuration leaves room for a GPU. */
    public static BackendChoice decide(Backend requested, int cudaDevice, Supplier<CudaProbe> probe) {
        return switch (requested) {
            case CPU -> new BackendChoice(Backend.CPU, cudaDevice, "expert.backend=cpu");
            case CUDA -> {
                CudaProbe p = probe.get();
                if (!p.usable()) {
                    throw new IllegalStateException("expert.backend=cuda but CUDA device " + cudaDevice
                            + " is not usable: " + p.detail() + "; set expert.backend=auto or cpu to run on the CPU");
                }
                yield new BackendChoice(Backend.CUDA, cudaDevice, "expert.backend=cuda: " + p.detail());
            }
            case AUTO -> {
                CudaProbe p = probe.get();
                yield p.usable()
                        ? new BackendChoice(Backend.CUDA, cudaDevice, "expert.backend=auto: using " + p.detail())
                        : new BackendChoice(Backend.CPU, cudaDevice,
                                "expert.backend=auto: the cpu backend serves, CUDA device " + cudaDevice + " is not usable: "
                                        + p.detail());
            }
        };
    }

    /** An empty pool of this backend for the routed experts of {@code config}. */
    public ExpertPool open(ModelConfig config) {
        return backend == Backend.CUDA ? CudaExperts.open(config, cudaDevice) : new LocalExperts(config);
    }

    /** {@code cpu} or {@code cuda}, as Describe reports it. */
    public String name() {
        return backend.name().toLowerCase(Locale.ROOT);
    }
}
