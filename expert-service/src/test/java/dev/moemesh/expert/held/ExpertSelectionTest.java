package dev.moemesh.expert.held;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertId;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedSet;
import org.junit.jupiter.api.Test;

class ExpertSelectionTest {
    /** TINY_V3: 3 layers, layer 0 dense, 16 routed experts per MoE layer. */
    private static final ModelConfig TINY = ModelConfig.parse(Preset.TINY_V3.config(), Path.of("config.json"));

    private static SortedSet<ExpertId> resolve(String spec) {
        return ExpertSelection.parse(spec).resolve(TINY);
    }

    @Test
    void starSelectsEveryRoutedExpertOfEveryMoeLayer() {
        SortedSet<ExpertId> all = resolve("*");
        assertEquals(32, all.size());
        assertEquals(new ExpertId(1, 0), all.first());
        assertEquals(new ExpertId(2, 15), all.last());
    }

    @Test
    void itemsNameLayersAndExpertRanges() {
        assertEquals(List.of(new ExpertId(1, 0), new ExpertId(1, 1), new ExpertId(1, 2), new ExpertId(2, 7)),
                List.copyOf(resolve("1:0-2, 2:7")));
    }

    @Test
    void starAndRangesWorkOnEitherSide() {
        assertEquals(16, resolve("2:*").size());
        assertEquals(List.of(new ExpertId(1, 5), new ExpertId(2, 5)), List.copyOf(resolve("1-2:5")));
        assertEquals(List.of(new ExpertId(1, 3), new ExpertId(2, 3)), List.copyOf(resolve("*:3")));
    }

    @Test
    void theMtpLayerIsAMoeLayerLikeTheOthers() {
        ModelConfig withMtp = ModelConfig.parse(Preset.TINY_V3.config().put("num_nextn_predict_layers", 1),
                Path.of("config.json"));
        SortedSet<ExpertId> all = ExpertSelection.parse("*").resolve(withMtp);
        assertEquals(48, all.size());
        assertEquals(new ExpertId(3, 15), all.last());
        assertEquals(List.of(new ExpertId(3, 4)), List.copyOf(ExpertSelection.parse("3:4").resolve(withMtp)));
        IllegalArgumentException past = assertThrows(IllegalArgumentException.class,
                () -> ExpertSelection.parse("4:0").resolve(withMtp));
        assertTrue(past.getMessage().contains("multi-token-prediction"), past.getMessage());
        assertThrows(IllegalArgumentException.class, () -> resolve("3:0"), "no layer 3 without an MTP layer");
    }

    @Test
    void overlappingItemsSelectEachExpertOnce() {
        assertEquals(8, resolve("1:0-7,1:4-7").size());
    }

    @Test
    void malformedSpecsAreRefusedSayingWhichPart() {
        assertMessage("", "empty");
        assertMessage("3", "item '3' is not LAYERS:EXPERTS");
        assertMessage("1:0-7,", "item '' is not LAYERS:EXPERTS");
        assertMessage("1:x", "'x' in item '1:x' is not a number");
        assertMessage("1:7-3", "range '7-3'");
    }

    @Test
    void layersAndExpertsOutsideTheModelAreRefused() {
        IllegalArgumentException dense = assertThrows(IllegalArgumentException.class, () -> resolve("0:0"));
        assertTrue(dense.getMessage().contains("layer 0 is not a MoE layer"), dense.getMessage());
        IllegalArgumentException past = assertThrows(IllegalArgumentException.class, () -> resolve("1:10-16"));
        assertTrue(past.getMessage().contains("expert 16 is past the model's 16 routed experts"), past.getMessage());
        IllegalArgumentException layer = assertThrows(IllegalArgumentException.class, () -> resolve("3:0"));
        assertTrue(layer.getMessage().contains("layer 3 is not a MoE layer"), layer.getMessage());
    }

    private static void assertMessage(String spec, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ExpertSelection.parse(spec));
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertTrue(e.getMessage().startsWith("expert.experts = '" + spec + "'"), e.getMessage());
    }
}
