package dev.moemesh.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CudaProbeTest {

    @Test
    void probingAnswersWithAReasonInsteadOfThrowing() {
        CudaProbe probe = CudaProbe.of(0);
        assertFalse(probe.detail().isBlank());
        assertFalse(probe.detail().contains("\n"), "one line: " + probe.detail());
        if (probe.usable()) {
            assertTrue(probe.detail().startsWith("cuda:0 "), probe.detail());
        }
    }

    @Test
    void aDeviceIndexPastTheLastIsUnusable() {
        CudaProbe probe = CudaProbe.of(1000);
        assertFalse(probe.usable());
        assertFalse(probe.detail().isBlank());
    }

    @Test
    void openingWithoutAUsableDeviceFailsWithTheProbesReason() {
        CudaProbe probe = CudaProbe.of(1000);
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> CudaExperts.open(64, 40, 1000));
        assertTrue(e.getMessage().equals(probe.detail()), e.getMessage() + " vs " + probe.detail());
    }
}
