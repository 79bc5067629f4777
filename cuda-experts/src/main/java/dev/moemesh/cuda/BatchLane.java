package dev.moemesh.cuda;

import dev.moemesh.core.moe.RoutedBatch;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

import static jcuda.driver.CUstream_flags.CU_STREAM_NON_BLOCKING;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * Everything one batch in flight needs: its own stream, pinned staging and device scratch, all grown to the
 * largest batch seen. Batches on different lanes overlap: one's copies run while another's kernels do.
 * A lane serves one batch at a time, with the device context current.
 */
final class BatchLane implements AutoCloseable {
    private static final int ALIGN = 256;

    private final ExpertKernels kernels;
    private final int hidden;
    private final int inter;
    private final CUstream stream = new CUstream();
    private final PinnedBuffer staging = new PinnedBuffer();  // group table, then the input rows as bf16
    private final PinnedBuffer results = new PinnedBuffer();  // output rows, fp32
    private final DeviceBuffer upload = new DeviceBuffer();   // what staging holds
    private final DeviceBuffer actF32 = new DeviceBuffer();   // (rows, inter), bandwidth path
    private final DeviceBuffer actBf16 = new DeviceBuffer();  // (rows, inter), tensor-core path
    private final DeviceBuffer output = new DeviceBuffer();   // (rows, hidden) fp32
    private GroupTable table;
    private int rows;
    private long inputOffset;

    BatchLane(ExpertKernels kernels, int hidden, int inter) {
        this.kernels = kernels;
        this.hidden = hidden;
        this.inter = inter;
        cuStreamCreate(stream, CU_STREAM_NON_BLOCKING);
    }

    CUstream stream() {
        return stream;
    }

    /** Computes {@code batch} with {@code experts[g]} for group g and fills its output; returns when done. */
    void run(RoutedBatch batch, DeviceExpert[] experts) {
        upload(batch, experts);
        compute();
        download(batch);
    }

    /** Queues the copy of the group table and the inputs (bf16) to the device. */
    void upload(RoutedBatch batch, DeviceExpert[] experts) {
        table = GroupTable.plan(batch.groupStart(), batch.groups());
        rows = batch.assignments();
        inputOffset = (table.bytes() + ALIGN - 1) / ALIGN * ALIGN;
        long total = inputOffset + 2L * rows * hidden;
        ByteBuffer host = staging.ensure(total);
        long[] w13 = new long[experts.length];
        long[] w2 = new long[experts.length];
        for (int g = 0; g < experts.length; g++) {
            w13[g] = experts[g].w13();
            w2[g] = experts[g].w2();
        }
        table.write(host, w13, w2);
        ShortBuffer in = host.position((int) inputOffset).slice().order(host.order()).asShortBuffer();
        HostCopies.toBf16(batch.input(), rows * hidden, in);
        CUdeviceptr device = upload.ensure(total);
        actF32.ensure(4L * rows * inter);
        actBf16.ensure(2L * rows * inter);
        output.ensure(4L * rows * hidden);
        cuMemcpyHtoDAsync(device, staging.pointer(), total, stream);
    }

    /** Queues the kernels over the last upload. */
    void compute() {
        CUdeviceptr device = upload.pointer();
        kernels.launch(stream, table, device, device.withByteOffset(inputOffset), actF32.pointer(), actBf16.pointer(),
                output.pointer(), hidden, inter);
    }

    /** Copies the outputs back into {@code batch.output()}, waiting for everything queued. */
    void download(RoutedBatch batch) {
        long bytes = 4L * rows * hidden;
        FloatBuffer host = results.ensure(bytes).asFloatBuffer();
        cuMemcpyDtoHAsync(results.pointer(), output.pointer(), bytes, stream);
        cuStreamSynchronize(stream);
        HostCopies.copy(host, rows * hidden, batch.output());
    }

    @Override
    public void close() {
        cuStreamDestroy(stream);
        staging.close();
        results.close();
        upload.close();
        actF32.close();
        actBf16.close();
        output.close();
    }
}
