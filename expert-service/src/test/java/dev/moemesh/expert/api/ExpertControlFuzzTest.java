package dev.moemesh.expert.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.moemesh.core.moe.ExpertId;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.LoadExpertsRequest;
import dev.moemesh.proto.UnloadExpertsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static dev.moemesh.testing.FuzzValues.edgeInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code LoadExperts} and {@code UnloadExperts} as the expert service takes them, in any order and with any ids: each
 * call either changes what is held exactly as asked (a set: loading adds, unloading removes) or is refused
 * {@code INVALID_ARGUMENT} with a reason, changing nothing; what is held is always routed experts of the model, and a
 * held expert computes (its weights were read). Never another exception, which gRPC would answer {@code UNKNOWN}.
 * Half the calls are built from ids near the model's edges, half are raw protobuf bytes.
 */
class ExpertControlFuzzTest {
    private static HeldExperts held;
    private static ExpertControl control;

    @FuzzTest(maxDuration = "20s")
    void aCallChangesWhatIsHeldAsAskedOrIsRefusedChangingNothing(FuzzedDataProvider data) {
        if (control == null) {
            held = TinyCheckpointResource.openHeld();
            control = new ExpertControl(held, new ExpertTokenCounters(new SimpleMeterRegistry()));
        }
        int calls = data.consumeInt(1, 4);
        for (int c = 0; c < calls; c++) {
            boolean load = data.consumeBoolean();
            List<LayerExpert> experts = data.consumeBoolean() ? built(data) : parsed(data, load);
            if (experts == null) return; // bytes gRPC's unmarshaller refuses before the service sees a request
            TreeSet<ExpertId> before = new TreeSet<>(held.held());
            TreeSet<ExpertId> expected = new TreeSet<>(before);
            boolean allInModel = true;
            for (LayerExpert e : experts) {
                ExpertId id = new ExpertId(e.getLayer(), e.getExpert());
                allInModel &= held.inModel(id.layer(), id.expert());
                if (load) expected.add(id);
                else expected.remove(id);
            }
            try {
                List<ExpertId> after = load ? control.load(experts) : control.unload(experts);
                assertTrue(allInModel, "a call naming an expert outside the model was taken: " + experts);
                assertEquals(expected, new TreeSet<>(after), (load ? "load " : "unload ") + experts);
                assertEquals(after, held.held(), "the answer is what is held");
                for (ExpertId id : after) {
                    assertTrue(held.inModel(id.layer(), id.expert()) && held.holds(id.layer(), id.expert()), id.toString());
                }
            } catch (StatusRuntimeException refused) {
                assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode(), refused.getStatus().toString());
                assertTrue(!allInModel, "a call of routed experts only was refused: " + refused.getStatus());
                String why = refused.getStatus().getDescription();
                assertTrue(why != null && why.contains("is not a routed expert of this model"), why);
                assertEquals(before, new TreeSet<>(held.held()), "a refused call changed what is held");
            }
        }
    }

    private static List<LayerExpert> built(FuzzedDataProvider data) {
        List<LayerExpert> experts = new ArrayList<>();
        int n = data.consumeInt(0, 6);
        for (int i = 0; i < n; i++) {
            experts.add(LayerExpert.newBuilder().setLayer(edgeInt(data, 4)).setExpert(edgeInt(data, 17)).build());
        }
        return experts;
    }

    private static List<LayerExpert> parsed(FuzzedDataProvider data, boolean load) {
        byte[] bytes = data.consumeBytes(data.consumeInt(0, 64));
        try {
            return load ? LoadExpertsRequest.parseFrom(bytes).getExpertsList()
                    : UnloadExpertsRequest.parseFrom(bytes).getExpertsList();
        } catch (InvalidProtocolBufferException notAMessage) {
            return null;
        }
    }
}
