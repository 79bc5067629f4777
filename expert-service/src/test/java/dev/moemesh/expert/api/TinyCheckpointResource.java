package dev.moemesh.expert.api;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.LocalExperts;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.expert.held.ExpertSelection;
import dev.moemesh.expert.held.HeldExperts;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/** Points the service at core's tiny DeepSeek-V3-shaped test checkpoint (written once per JVM), holding {@link #HELD}. */
public class TinyCheckpointResource implements QuarkusTestResourceLifecycleManager {
    /** Layer 1 experts 0-7 and all of layer 2; layer 1 experts 8-15 are in the model but not held. */
    static final String HELD = "1:0-7,2:*";

    /** The experts {@link #HELD} of the tiny checkpoint, opened in this JVM as the service opens them. */
    static HeldExperts openHeld() {
        return HeldExperts.open(TestModels.tiny(Preset.TINY_V3), ExpertSelection.parse(HELD), LocalExperts::new);
    }

    @Override
    public Map<String, String> start() {
        return Map.of("expert.model-dir", TestModels.tiny(Preset.TINY_V3).toString(), "expert.experts", HELD);
    }

    @Override
    public void stop() {
        // TestModels deletes its checkpoints when the JVM exits
    }
}
