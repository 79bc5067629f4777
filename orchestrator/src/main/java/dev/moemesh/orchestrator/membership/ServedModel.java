package dev.moemesh.orchestrator.membership;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.moe.ExpertId;

import java.nio.file.Path;
import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * The model the mesh serves, as far as the control plane knows it: its fingerprint, where that came from (for error
 * messages), and its routed experts (empty when only instances' registrations tell them).
 */
public record ServedModel(String fingerprint, String source, Set<ExpertId> experts) {
    public ServedModel {
        experts = Collections.unmodifiableSortedSet(new TreeSet<>(experts));
    }

    /**
     * The checkpoint in {@code modelDir}: its fingerprint and every routed expert of its MoE layers, those of its
     * multi-token-prediction layer included.
     */
    public static ServedModel read(Path modelDir) {
        ModelConfig config = ModelConfig.load(modelDir);
        TreeSet<ExpertId> experts = new TreeSet<>();
        for (int layer : config.moeLayers()) {
            for (int e = 0; e < config.nRoutedExperts(); e++) experts.add(new ExpertId(layer, e));
        }
        return new ServedModel(ModelFingerprint.of(modelDir), "orchestrator.model-dir " + modelDir, experts);
    }
}
