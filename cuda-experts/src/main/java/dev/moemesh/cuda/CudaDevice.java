package dev.moemesh.cuda;

import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

import java.nio.charset.StandardCharsets;

import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;

/**
 * One CUDA device and its primary context, through the driver API only (which needs nothing but the driver's
 * {@code libcuda.so.1}). Every thread that calls into CUDA makes the context current first.
 */
final class CudaDevice implements AutoCloseable {
    /** mma.sync on bf16 and cp.async, which the kernels use, need Ampere or newer. */
    private static final int MIN_MAJOR = 8;

    private final Info info;
    private final CUcontext context = new CUcontext();

    record Info(int index, CUdevice device, String name, int major, int minor, long memoryBytes) {
        String describe() {
            return "cuda:" + index + " " + name + " (sm_" + major + minor + ", " + (memoryBytes >> 30) + " GiB)";
        }
    }

    private CudaDevice(Info info) {
        this.info = info;
        cuDevicePrimaryCtxRetain(context, info.device());
        makeCurrent();
    }

    /** Retains the primary context of device {@code index} and makes it current on this thread. */
    static CudaDevice open(int index) {
        return new CudaDevice(inspect(index));
    }

    /** Loads the driver, finds device {@code index} and checks it can run the kernels; creates no context. */
    static Info inspect(int index) {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
        } catch (LinkageError e) {
            throw new CudaUnavailableException("no NVIDIA driver: JCuda's driver binding, which needs libcuda.so.1, "
                    + "does not load: " + firstLine(e.getMessage()));
        } catch (CudaException e) {
            throw new CudaUnavailableException("the CUDA driver does not start: cuInit gives " + firstLine(e.getMessage()));
        }
        try {
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (index < 0 || index >= count[0]) {
                throw new CudaUnavailableException("CUDA device " + index + " does not exist: the driver sees "
                        + count[0] + " device(s)");
            }
            CUdevice device = new CUdevice();
            cuDeviceGet(device, index);
            byte[] name = new byte[256];
            cuDeviceGetName(name, name.length, device);
            int[] major = new int[1];
            int[] minor = new int[1];
            cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
            cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
            long[] memory = new long[1];
            cuDeviceTotalMem(memory, device);
            Info info = new Info(index, device, cString(name), major[0], minor[0], memory[0]);
            if (info.major() < MIN_MAJOR) {
                throw new CudaUnavailableException(info.describe() + " is too old: the expert kernels need compute "
                        + "capability " + MIN_MAJOR + ".0 or newer");
            }
            return info;
        } catch (CudaException e) {
            throw new CudaUnavailableException("CUDA device " + index + " cannot be queried: " + firstLine(e.getMessage()));
        }
    }

    private static String cString(byte[] bytes) {
        int end = 0;
        while (end < bytes.length && bytes[end] != 0) end++;
        return new String(bytes, 0, end, StandardCharsets.US_ASCII);
    }

    private static String firstLine(String message) {
        if (message == null) return "no message";
        int end = message.indexOf('\n');
        return (end < 0 ? message : message.substring(0, end)).strip();
    }

    /** {@code cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)}. */
    String describe() {
        return info.describe();
    }

    void makeCurrent() {
        cuCtxSetCurrent(context);
    }

    @Override
    public void close() {
        cuDevicePrimaryCtxRelease(info.device());
    }
}
