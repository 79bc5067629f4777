package dev.moemesh.cuda;

import jcuda.Pointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;

/**
 * Page-locked host memory, so copies to and from the device run asynchronously at full speed; it grows to the
 * largest request seen and never shrinks. Used by one batch at a time, with the device context current.
 */
final class PinnedBuffer implements AutoCloseable {
    private Pointer memory;
    private ByteBuffer bytes;

    /** At least {@code size} bytes, little-endian, position 0; the contents are not kept when it grows. */
    ByteBuffer ensure(long size) {
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a batch needs " + size + " bytes of staging, over the 2 GiB a buffer holds");
        }
        if (bytes == null || bytes.capacity() < size) {
            long grown = Math.min(Integer.MAX_VALUE, Math.max(size, bytes == null ? 0 : 2L * bytes.capacity()));
            close();
            memory = new Pointer();
            cuMemAllocHost(memory, grown);
            bytes = memory.getByteBuffer(0, grown).order(ByteOrder.LITTLE_ENDIAN);
        }
        return bytes.clear();
    }

    Pointer pointer() {
        return memory;
    }

    @Override
    public void close() {
        if (memory != null) cuMemFreeHost(memory);
        memory = null;
        bytes = null;
    }
}
