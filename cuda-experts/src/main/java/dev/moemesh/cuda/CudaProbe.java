package dev.moemesh.cuda;

/**
 * Whether CUDA device {@code index} can run the expert kernels in this process: {@code detail} names the device
 * when it can and says why not when it cannot.
 */
public record CudaProbe(int index, boolean usable, String detail) {

    /** Looks for the driver and the device; never throws, also without {@code libcuda.so.1}. */
    public static CudaProbe of(int index) {
        try {
            return new CudaProbe(index, true, CudaDevice.inspect(index).describe());
        } catch (CudaUnavailableException e) {
            return new CudaProbe(index, false, e.getMessage());
        }
    }
}
