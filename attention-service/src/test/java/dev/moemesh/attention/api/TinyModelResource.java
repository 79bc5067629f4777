package dev.moemesh.attention.api;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/** Serves core's tiny DeepSeek-V3-shaped test checkpoint (written once per JVM) with in-process experts. */
public class TinyModelResource implements QuarkusTestResourceLifecycleManager {

    @Override
    public Map<String, String> start() {
        // a context of 1024 tokens but a KV pool of 768, so a request can fit the one and not the other
        return Map.of("attention.model-dir", TestModels.tiny(Preset.TINY_V3).toString(),
                "attention.max-seq-len", "1024", "attention.kv-blocks", "48", "attention.kv-block-tokens", "16");
    }

    @Override
    public void stop() {
        // TestModels deletes its checkpoints when the JVM exits
    }
}
