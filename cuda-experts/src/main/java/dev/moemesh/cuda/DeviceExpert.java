package dev.moemesh.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.util.concurrent.atomic.AtomicInteger;

import static jcuda.driver.CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuPointerGetAttribute;

/**
 * One routed expert's weights in one device allocation, bf16 row-major: gate_proj (inter, hidden), up_proj
 * (inter, hidden), down_proj (hidden, inter). The pool holds one reference and every batch using the expert
 * another; the memory is freed when the last one is let go, so a batch keeps an expert removed meanwhile.
 */
final class DeviceExpert {
    private final CudaDevice device;
    private final CUdeviceptr memory;
    private final long w13;
    private final long w2;
    private final AtomicInteger users = new AtomicInteger(1);

    private DeviceExpert(CudaDevice device, CUdeviceptr memory, long w13, long w2) {
        this.device = device;
        this.memory = memory;
        this.w13 = w13;
        this.w2 = w2;
    }

    /** Copies the packed bf16 pairs (two elements an int, even column low) of the three matrices to the device. */
    static DeviceExpert upload(CudaDevice device, int[] gate, int[] up, int[] down) {
        long gateBytes = 4L * gate.length;
        long downOffset = gateBytes + 4L * up.length;
        CUdeviceptr memory = new CUdeviceptr();
        cuMemAlloc(memory, downOffset + 4L * down.length);
        try {
            cuMemcpyHtoD(memory, Pointer.to(gate), gateBytes);
            cuMemcpyHtoD(memory.withByteOffset(gateBytes), Pointer.to(up), 4L * up.length);
            cuMemcpyHtoD(memory.withByteOffset(downOffset), Pointer.to(down), 4L * down.length);
            long[] address = new long[1];
            cuPointerGetAttribute(Pointer.to(address), CU_POINTER_ATTRIBUTE_DEVICE_POINTER, memory);
            return new DeviceExpert(device, memory, address[0], address[0] + downOffset);
        } catch (RuntimeException e) {
            cuMemFree(memory);
            throw e;
        }
    }

    /** Device address of gate_proj over up_proj, (2 * inter, hidden). */
    long w13() {
        return w13;
    }

    /** Device address of down_proj, (hidden, inter). */
    long w2() {
        return w2;
    }

    /** Takes a reference for a batch; false once the memory is gone (the expert was removed). */
    boolean acquire() {
        for (int n = users.get(); n > 0; n = users.get()) {
            if (users.compareAndSet(n, n + 1)) return true;
        }
        return false;
    }

    /** Lets a reference go, the pool's included; the last one frees the device memory. */
    void release() {
        if (users.decrementAndGet() == 0) {
            device.makeCurrent();
            cuMemFree(memory);
        }
    }
}
