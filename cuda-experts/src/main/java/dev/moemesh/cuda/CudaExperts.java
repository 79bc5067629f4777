package dev.moemesh.cuda;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.weights.WeightReader;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.moe.RoutedBatch;
import dev.moemesh.core.tensor.Bf16Matrix;
import dev.moemesh.core.tensor.Matrix;

import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Routed experts pinned in one GPU's memory and run there: the same contract and math as core's LocalExperts
 * ({@code down(silu(gate x) · up x)}, fp32 accumulation), with bf16 weights copied to the device once per expert.
 * Batches run on a few {@link BatchLane lanes} so that concurrent requests overlap copies with compute.
 */
public final class CudaExperts implements ExpertPool {
    private static final int LANES = 2;

    private final int hidden;
    private final int inter;
    private final CudaDevice device;
    private final ExpertKernels kernels;
    private final Map<Long, DeviceExpert> experts = new ConcurrentHashMap<>();
    private final BlockingQueue<BatchLane> lanes = new ArrayBlockingQueue<>(LANES);
    private volatile boolean closed;

    private CudaExperts(int hidden, int inter, CudaDevice device) {
        this.hidden = hidden;
        this.inter = inter;
        this.device = device;
        this.kernels = new ExpertKernels();
        for (int i = 0; i < LANES; i++) lanes.add(new BatchLane(kernels, hidden, inter));
    }

    /**
     * An empty pool on CUDA device {@code deviceIndex} for experts of {@code config}'s shape.
     *
     * @throws CudaUnavailableException when there is no driver, no such device, or it is older than sm_80
     */
    public static CudaExperts open(ModelConfig config, int deviceIndex) {
        return open(config.hiddenSize(), config.moeIntermediateSize(), deviceIndex);
    }

    static CudaExperts open(int hidden, int inter, int deviceIndex) {
        if (hidden % 8 != 0 || inter % 8 != 0) {
            throw new IllegalArgumentException("the cuda expert backend needs hidden_size and moe_intermediate_size "
                    + "divisible by 8 (16-byte rows), got " + hidden + " and " + inter + "; use the cpu backend");
        }
        CudaDevice device = CudaDevice.open(deviceIndex);
        try {
            return new CudaExperts(hidden, inter, device);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    @Override
    public void add(WeightReader r, int layer, int expert) {
        String prefix = "model.layers." + layer + ".mlp.experts." + expert + ".";
        experts.computeIfAbsent(key(layer, expert), k -> {
            device.makeCurrent();
            return DeviceExpert.upload(device, bf16Pairs(r.matrix(prefix + "gate_proj.weight", inter, hidden)),
                    bf16Pairs(r.matrix(prefix + "up_proj.weight", inter, hidden)),
                    bf16Pairs(r.matrix(prefix + "down_proj.weight", hidden, inter)));
        });
    }

    /** Puts an expert whose weights are already bf16 (the benchmark's random ones). */
    void put(int layer, int expert, Bf16Matrix gate, Bf16Matrix up, Bf16Matrix down) {
        device.makeCurrent();
        DeviceExpert previous = experts.put(key(layer, expert),
                DeviceExpert.upload(device, gate.pairs(), up.pairs(), down.pairs()));
        if (previous != null) previous.release();
    }

    /** bf16 and FP8 checkpoints arrive as bf16 (WeightReader dequantises FP8); F32/F16 weights are rounded to bf16. */
    private static int[] bf16Pairs(Matrix m) {
        if (m instanceof Bf16Matrix b) return b.pairs();
        float[] values = new float[m.rows() * m.cols()];
        for (int n = 0; n < m.rows(); n++) m.row(n, values, n * m.cols());
        return Bf16Matrix.fromFloats(m.rows(), m.cols(), values).pairs();
    }

    @Override
    public void remove(int layer, int expert) {
        DeviceExpert removed = experts.remove(key(layer, expert));
        if (removed != null) removed.release();
    }

    @Override
    public boolean holds(int layer, int expert) {
        return experts.containsKey(key(layer, expert));
    }

    private static long key(int layer, int expert) {
        return ((long) layer << 32) | expert;
    }

    @Override
    public String device() {
        return device.describe();
    }

    @Override
    public void run(RoutedBatch batch) {
        if (batch.hidden() != hidden) {
            throw new IllegalArgumentException("batch rows have " + batch.hidden() + " values but these experts take "
                    + hidden);
        }
        DeviceExpert[] held = acquire(batch);
        try {
            if (batch.assignments() == 0) return;
            BatchLane lane = takeLane();
            try {
                device.makeCurrent();
                lane.run(batch, held);
            } finally {
                returnLane(lane);
            }
        } finally {
            for (DeviceExpert e : held) e.release();
        }
    }

    /** The batch's experts, each kept from being freed until {@link DeviceExpert#release}. */
    DeviceExpert[] acquire(RoutedBatch batch) {
        DeviceExpert[] held = new DeviceExpert[batch.groups()];
        for (int g = 0; g < held.length; g++) {
            DeviceExpert e = experts.get(key(batch.layer(), batch.expertIds()[g]));
            if (e == null || !e.acquire()) {
                for (int i = 0; i < g; i++) held[i].release();
                throw new IllegalArgumentException("expert " + batch.expertIds()[g] + " of layer " + batch.layer()
                        + " is not held here");
            }
            held[g] = e;
        }
        return held;
    }

    /** A free lane, waiting for one while both serve batches; give it back with {@link #returnLane}. */
    BatchLane takeLane() {
        try {
            while (true) {
                if (closed) throw new IllegalStateException("the CUDA experts on " + device() + " are closed");
                BatchLane lane = lanes.poll(100, TimeUnit.MILLISECONDS);
                if (lane != null && closed) {
                    lanes.add(lane);
                } else if (lane != null) {
                    return lane;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a CUDA stream of " + device(), e);
        }
    }

    void returnLane(BatchLane lane) {
        lanes.add(lane);
    }

    /** Waits for running batches, then frees the experts' memory, the lanes, the kernels and the context. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        device.makeCurrent();
        try {
            for (int i = 0; i < LANES; i++) lanes.take().close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while closing the CUDA experts on " + device(), e);
        }
        for (Long k : experts.keySet()) {
            DeviceExpert removed = experts.remove(k);
            if (removed != null) removed.release();
        }
        kernels.close();
        device.close();
    }
}
