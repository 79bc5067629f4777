package dev.moemesh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.proto.ExpertReplicas;
import dev.moemesh.proto.Placement;
import dev.moemesh.proto.Replica;
import org.junit.jupiter.api.Test;

/** What {@code mesh up} says of the redundancy a placement gives the tiny model's routed experts. */
class RedundancyTest {
    private static final ModelConfig CONFIG = ModelConfig.load(TestModels.tiny(Preset.TINY_V3));

    /** Every routed expert of every MoE layer on {@code holders(expert)} of the given services. */
    private static Placement placement(java.util.function.IntFunction<String[]> holders) {
        Placement.Builder p = Placement.newBuilder().setVersion(7).setModelFingerprint("f");
        for (int l = 0; l < CONFIG.numLayers(); l++) {
            if (!CONFIG.isMoeLayer(l)) continue;
            for (int e = 0; e < CONFIG.nRoutedExperts(); e++) {
                ExpertReplicas.Builder r = p.addExpertsBuilder().setLayer(l).setExpert(e);
                for (String a : holders.apply(e)) r.addReplicas(Replica.newBuilder().setAddress(a).setWeight(1));
            }
        }
        return p.build();
    }

    private static int moeExperts() {
        int layers = 0;
        for (int l = 0; l < CONFIG.numLayers(); l++) if (CONFIG.isMoeLayer(l)) layers++;
        return layers * CONFIG.nRoutedExperts();
    }

    @Test
    void twoReplicasOfEveryExpert() {
        Redundancy r = Redundancy.of(placement(e -> new String[] {"a:1", "b:2"}), CONFIG);
        assertEquals(new Redundancy(7, 2, moeExperts(), 2, 2, 0, 0), r);
        assertEquals("placement version 7: 2 replicas per routed expert (" + moeExperts() + " experts on 2 expert"
                + " services)", r.line());
    }

    @Test
    void singleReplicasAndUnplacedExpertsAreCountedAndSaid() {
        int experts = CONFIG.nRoutedExperts();
        // expert 0 of each layer on nobody, expert 1 on one service, the rest on two
        Redundancy r = Redundancy.of(placement(e -> e == 0 ? new String[0] : e == 1 ? new String[] {"a:1"}
                : new String[] {"a:1", "b:2"}), CONFIG);
        int layers = moeExperts() / experts;
        assertEquals(new Redundancy(7, 2, moeExperts(), 0, 2, layers, layers), r);
        assertEquals("placement version 7: 0 to 2 replicas per routed expert (" + moeExperts() + " experts on 2 expert"
                + " services); " + layers + " held by no service; " + layers + " have a single replica, so killing its"
                + " service stalls the steps that need it until it is placed again", r.line());
    }
}
