package dev.moemesh.cuda;

import jcuda.driver.CUdeviceptr;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;

/**
 * Device scratch memory that grows to the largest batch seen and never shrinks, so a batch allocates nothing.
 * Used by one batch at a time, with the device context current and no work pending on it.
 */
final class DeviceBuffer implements AutoCloseable {
    private CUdeviceptr memory;
    private long capacity;

    /** At least {@code size} bytes; the contents are not kept when it grows. */
    CUdeviceptr ensure(long size) {
        if (memory == null || capacity < size) {
            long grown = Math.max(size, 2 * capacity);
            close();
            memory = new CUdeviceptr();
            cuMemAlloc(memory, Math.max(grown, 256));
            capacity = Math.max(grown, 256);
        }
        return memory;
    }

    /** The memory of the last {@link #ensure}. */
    CUdeviceptr pointer() {
        return memory;
    }

    @Override
    public void close() {
        if (memory != null) cuMemFree(memory);
        memory = null;
        capacity = 0;
    }
}
