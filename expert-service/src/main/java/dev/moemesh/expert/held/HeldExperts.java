package dev.moemesh.expert.held;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.core.moe.ExpertPool;
import dev.moemesh.core.safetensors.SafetensorsCheckpoint;
import dev.moemesh.core.weights.WeightReader;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.function.Function;

/**
 * The routed experts this service holds, each loaded on its own from the memory-mapped checkpoint, so experts can
 * be added and dropped one by one while requests run; the checkpoint stays open for later loads.
 */
public final class HeldExperts implements AutoCloseable {
    private final SafetensorsCheckpoint checkpoint;
    private final WeightReader reader;
    private final ModelConfig config;
    private final String fingerprint;
    private final ExpertPool experts;
    private final Set<ExpertId> held = new ConcurrentSkipListSet<>();

    private HeldExperts(SafetensorsCheckpoint checkpoint, ModelConfig config, String fingerprint, ExpertPool experts) {
        this.checkpoint = checkpoint;
        this.reader = new WeightReader(checkpoint);
        this.config = config;
        this.fingerprint = fingerprint;
        this.experts = experts;
    }

    /**
     * Opens the checkpoint in {@code modelDir} and loads the experts {@code selection} names, and no others, into
     * the pool {@code backend} makes for the model (core's LocalExperts, or CudaExperts on a GPU).
     */
    public static HeldExperts open(Path modelDir, ExpertSelection selection, Function<ModelConfig, ExpertPool> backend) {
        ModelConfig config = ModelConfig.load(modelDir);
        Collection<ExpertId> wanted = selection.resolve(config);
        String fingerprint = ModelFingerprint.of(modelDir);
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(modelDir);
        HeldExperts held = null;
        try {
            held = new HeldExperts(checkpoint, config, fingerprint, backend.apply(config));
            held.load(wanted);
            return held;
        } catch (RuntimeException e) {
            if (held != null) {
                held.close();
            } else {
                checkpoint.close();
            }
            throw e;
        }
    }

    public ModelConfig config() {
        return config;
    }

    public String fingerprint() {
        return fingerprint;
    }

    /** Whether the model has this routed expert at all (held here or not). */
    public boolean inModel(int layer, int expert) {
        return config.isMoeLayer(layer) && expert >= 0 && expert < config.nRoutedExperts();
    }

    /** Whether this service holds the expert now. */
    public boolean holds(int layer, int expert) {
        return experts.holds(layer, expert);
    }

    /** The held experts as one backend: a batch may name any of them. */
    public ExpertPool backend() {
        return experts;
    }

    /** Loads those not yet held; every id must be {@link #inModel in the model}. */
    public synchronized void load(Collection<ExpertId> ids) {
        for (ExpertId id : ids) {
            if (!inModel(id.layer(), id.expert())) {
                throw new IllegalArgumentException("expert " + id.expert() + " of layer " + id.layer()
                        + " is not a routed expert of this model");
            }
            experts.add(reader, id.layer(), id.expert());
            held.add(id);
        }
    }

    /** Drops these experts; requests already running with them finish. */
    public synchronized void unload(Collection<ExpertId> ids) {
        for (ExpertId id : ids) {
            held.remove(id);
            experts.remove(id.layer(), id.expert());
        }
    }

    /** In (layer, expert) order. */
    public List<ExpertId> held() {
        return List.copyOf(held);
    }

    @Override
    public void close() {
        experts.close();
        checkpoint.close();
    }
}
