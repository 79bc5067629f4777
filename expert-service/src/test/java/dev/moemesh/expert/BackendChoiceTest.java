package dev.moemesh.expert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.cuda.CudaProbe;
import dev.moemesh.expert.ExpertSettings.Backend;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class BackendChoiceTest {
    private static final ModelConfig TINY = ModelConfig.parse(Preset.TINY_V3.config(), Path.of("config.json"));
    private static final Supplier<CudaProbe> NO_GPU =
            () -> new CudaProbe(0, false, "no NVIDIA driver: JCuda's driver binding, which needs libcuda.so.1, does not load");
    private static final Supplier<CudaProbe> GPU = () -> new CudaProbe(0, true, "cuda:0 NVIDIA H100 (sm_90, 79 GiB)");

    @Test
    void cpuIsTakenAsConfiguredWithoutProbing() {
        BackendChoice choice = BackendChoice.decide(Backend.CPU, 0, () -> {
            throw new AssertionError("cpu must not probe for a GPU");
        });
        assertEquals(Backend.CPU, choice.backend());
        assertEquals("cpu", choice.name());
    }

    @Test
    void autoFallsBackToCpuAndSaysWhy() {
        BackendChoice choice = BackendChoice.decide(Backend.AUTO, 0, NO_GPU);
        assertEquals(Backend.CPU, choice.backend());
        assertEquals("expert.backend=auto: the cpu backend serves, CUDA device 0 is not usable: no NVIDIA driver: "
                + "JCuda's driver binding, which needs libcuda.so.1, does not load", choice.reason());
    }

    @Test
    void autoTakesAUsableGpu() {
        BackendChoice choice = BackendChoice.decide(Backend.AUTO, 0, GPU);
        assertEquals(Backend.CUDA, choice.backend());
        assertEquals("cuda", choice.name());
        assertTrue(choice.reason().contains("cuda:0 NVIDIA H100"), choice.reason());
    }

    @Test
    void cudaWithoutAUsableDeviceRefusesToStartInOneLine() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> BackendChoice.decide(Backend.CUDA, 0, NO_GPU));
        assertTrue(e.getMessage().startsWith("expert.backend=cuda but CUDA device 0 is not usable: no NVIDIA driver"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("set expert.backend=auto or cpu to run on the CPU"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void probingThisMachineNeverFailsTheStart() {
        BackendChoice choice = BackendChoice.decide(Backend.AUTO, 0, () -> CudaProbe.of(0));
        assertEquals(CudaProbe.of(0).usable() ? Backend.CUDA : Backend.CPU, choice.backend());
        assertFalse(choice.reason().contains("\n"), choice.reason());
    }

    @Test
    void autoOnAMachineWithoutGpuServesFromLocalExperts() {
        CudaProbe here = CudaProbe.of(0);
        BackendChoice choice = BackendChoice.decide(Backend.AUTO, 0, () -> here);
        try (ExpertPool pool = choice.open(TINY)) {
            if (here.usable()) {
                assertTrue(pool.device().startsWith("cuda:0 "), pool.device());
            } else {
                assertInstanceOf(LocalExperts.class, pool);
                assertEquals("cpu", pool.device());
            }
        }
    }
}
