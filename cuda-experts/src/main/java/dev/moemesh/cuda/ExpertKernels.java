package dev.moemesh.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

import static jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * The kernels of {@code src/main/cuda/experts.cu}, loaded from the fatbin resource (sm_80 and sm_90 machine code,
 * compute_80 PTX for newer GPUs), and the launches of one routed batch: two per path, each covering all of the
 * path's groups.
 */
final class ExpertKernels implements AutoCloseable {
    static final String RESOURCE = "experts.fatbin";

    // launch geometry; must agree with the constants of experts.cu
    private static final int THREADS = 256;
    private static final int WARPS = THREADS / 32;
    /** Act columns a warp of small_gate_up computes; a warp of small_down computes twice as many output columns. */
    private static final int SMALL_COLS = 8;
    private static final int TILE_WEIGHT_ROWS = 128;
    private static final int LARGE_SHARED_BYTES = 4 * (128 + 128) * (32 + 8) * 2;
    private static final int MAX_GRID_Y = 65535;

    private final CUmodule module = new CUmodule();
    private final CUfunction smallGateUp = new CUfunction();
    private final CUfunction smallDown = new CUfunction();
    private final CUfunction largeGateUp = new CUfunction();
    private final CUfunction largeDown = new CUfunction();

    /** Loads the module into the context current on this thread. */
    ExpertKernels() {
        cuModuleLoadData(module, image());
        cuModuleGetFunction(smallGateUp, module, "small_gate_up");
        cuModuleGetFunction(smallDown, module, "small_down");
        cuModuleGetFunction(largeGateUp, module, "large_gate_up");
        cuModuleGetFunction(largeDown, module, "large_down");
        cuFuncSetAttribute(largeGateUp, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, LARGE_SHARED_BYTES);
        cuFuncSetAttribute(largeDown, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, LARGE_SHARED_BYTES);
    }

    static byte[] image() {
        try (InputStream in = ExpertKernels.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource dev/moemesh/cuda/" + RESOURCE + " is missing from the "
                        + "cuda-experts jar; run cuda-experts/build-kernels.sh and rebuild");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read resource dev/moemesh/cuda/" + RESOURCE, e);
        }
    }

    /**
     * Queues {@code out = down(silu(gate x) · up x)} for every group of {@code table} on {@code stream}. {@code table}
     * is at {@code groups} on the device, x (rows, hidden) bf16; actF32 and actBf16 are (rows, inter) scratch
     * for the two paths, out (rows, hidden) fp32.
     */
    void launch(CUstream stream, GroupTable table, CUdeviceptr groups, CUdeviceptr x, CUdeviceptr actF32,
                CUdeviceptr actBf16, CUdeviceptr out, int hidden, int inter) {
        for (int first = 0; first < table.small(); first += MAX_GRID_Y) {
            int count = Math.min(MAX_GRID_Y, table.small() - first);
            CUdeviceptr part = groups.withByteOffset((long) first * GroupTable.ENTRY_BYTES);
            run(smallGateUp, ceilDiv(inter, WARPS * SMALL_COLS), count, 0, stream,
                    Pointer.to(part), Pointer.to(x), Pointer.to(actF32), value(hidden), value(inter));
            run(smallDown, ceilDiv(hidden, WARPS * 2 * SMALL_COLS), count, 0, stream,
                    Pointer.to(part), Pointer.to(actF32), Pointer.to(out), value(hidden), value(inter));
        }
        if (table.large() > 0) {
            CUdeviceptr part = groups.withByteOffset((long) table.small() * GroupTable.ENTRY_BYTES);
            int gateUpTiles = table.tiles() * ceilDiv(inter, TILE_WEIGHT_ROWS / 2);
            int downTiles = table.tiles() * ceilDiv(hidden, TILE_WEIGHT_ROWS);
            run(largeGateUp, gateUpTiles, 1, LARGE_SHARED_BYTES, stream, Pointer.to(part), value(table.large()),
                    Pointer.to(x), Pointer.to(actBf16), value(hidden), value(inter));
            run(largeDown, downTiles, 1, LARGE_SHARED_BYTES, stream, Pointer.to(part), value(table.large()),
                    Pointer.to(actBf16), Pointer.to(out), value(hidden), value(inter));
        }
    }

    private static void run(CUfunction f, int gridX, int gridY, int sharedBytes, CUstream stream, Pointer... args) {
        cuLaunchKernel(f, gridX, gridY, 1, THREADS, 1, 1, sharedBytes, stream, Pointer.to(args), null);
    }

    private static Pointer value(int v) {
        return Pointer.to(new int[] {v});
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public void close() {
        cuModuleUnload(module);
    }
}
