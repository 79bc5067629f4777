package dev.moemesh.expert.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.moemesh.expert.held.ExpertTokenCounters;
import dev.moemesh.expert.held.HeldExperts;
import dev.moemesh.proto.RunExpertsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.Set;

import static dev.moemesh.testing.FuzzValues.edgeInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@code RunExpertsRequest} as the expert service receives it, from any caller that gets past the transport: its
 * answer is outputs of exactly the request's size, or a refusal the caller can act on ({@code INVALID_ARGUMENT},
 * {@code NOT_FOUND}, {@code FAILED_PRECONDITION}) naming what is wrong; never another exception, which the unary call
 * would turn into {@code UNKNOWN} and the stream into an {@code INTERNAL} answer. Half the inputs are built field by
 * field (so sizes, layers and ids reach their edges), half are raw protobuf bytes.
 */
class RunExpertsFuzzTest {
    private static final Set<Status.Code> REFUSALS =
            Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.NOT_FOUND, Status.Code.FAILED_PRECONDITION);
    private static final long MIN_PLACEMENT_VERSION = 3;
    private static HeldExperts held;
    private static ExpertRun run;

    @FuzzTest(maxDuration = "20s")
    void aRequestIsAnsweredAtItsSizeOrRefusedWithAClearStatus(FuzzedDataProvider data) {
        if (run == null) {
            held = TinyCheckpointResource.openHeld();
            run = new ExpertRun(held, new ExpertTokenCounters(new SimpleMeterRegistry()), MIN_PLACEMENT_VERSION);
        }
        RunExpertsRequest request;
        if (data.consumeBoolean()) {
            request = built(data);
        } else {
            try {
                request = RunExpertsRequest.parseFrom(data.consumeRemainingAsBytes());
            } catch (InvalidProtocolBufferException notAMessage) {
                return; // gRPC's unmarshaller refuses it before the service sees a request
            }
        }
        try {
            byte[] outputs = run.run(request);
            assertEquals(request.getHiddenStates().size(), outputs.length, "outputs of another size than the rows sent");
        } catch (StatusRuntimeException refused) {
            assertTrue(REFUSALS.contains(refused.getStatus().getCode()), refused.getStatus().toString());
            String why = refused.getStatus().getDescription();
            assertTrue(why != null && !why.isBlank(), "a refusal that says nothing");
        }
    }

    private static RunExpertsRequest built(FuzzedDataProvider data) {
        int hidden = held.config().hiddenSize();
        RunExpertsRequest.Builder r = RunExpertsRequest.newBuilder()
                .setModelFingerprint(data.consumeBoolean() ? held.fingerprint() : data.consumeString(16))
                .setPlacementVersion(data.consumeLong())
                .setSequence(data.consumeLong())
                .setLayer(edgeInt(data, 4))
                .setHidden(data.consumeBoolean() ? hidden : edgeInt(data, 2 * hidden));
        int groups = data.consumeInt(0, 6);
        long rows = 0;
        for (int g = 0; g < groups; g++) {
            r.addExpertIds(edgeInt(data, 17));
            int size = edgeInt(data, 3);
            r.addGroupSizes(size);
            rows += Integer.toUnsignedLong(size);
        }
        if (data.consumeBoolean()) r.addGroupSizes(data.consumeInt(0, 3)); // one size too many
        boolean matching = data.consumeBoolean() && rows <= 64;
        r.setHiddenStates(ByteString.copyFrom(matching ? data.consumeBytes((int) rows * hidden * 2)
                : data.consumeBytes(data.consumeInt(0, 4 * hidden))));
        return r.build();
    }
}
