package dev.moemesh.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

class DoorAdmissionTest {
    private final List<String> heard = new ArrayList<>();

    private GenerationListener recorder(String name) {
        return new GenerationListener() {
            @Override
            public void token(TokenEvent token) {
                heard.add(name + " token " + token.getTokenId());
            }

            @Override
            public void completed(Completion completion, String attentionService) {
                heard.add(name + " completed");
            }

            @Override
            public void failed(Status status, String message) {
                heard.add(name + " failed " + status.getCode());
            }
        };
    }

    @Test
    void pastItsBoundADoorRefusesUntilAGenerationEnds() {
        DoorAdmission admission = new DoorAdmission(2, "router.max-in-flight", Duration.ofMillis(1500));
        GenerationListener a = admission.admit(recorder("a"));
        GenerationListener b = admission.admit(recorder("b"));
        assertNotNull(a);
        assertNotNull(b);
        assertNull(admission.admit(recorder("c")), "a third is refused while two are in flight");
        assertEquals(2, admission.inFlight());

        a.token(TokenEvent.newBuilder().setIndex(0).setTokenId(7).build());
        assertEquals(2, admission.inFlight(), "a token is no ending");
        a.completed(Completion.getDefaultInstance(), "localhost:9200");
        assertNotNull(admission.admit(recorder("d")), "a completed generation gives its place back");
        b.failed(Status.UNAVAILABLE, "gone");
        assertEquals(1, admission.inFlight(), "so does a failed one");
        assertEquals(List.of("a token 7", "a completed", "b failed UNAVAILABLE"), heard, "the listener hears it all");
    }

    @Test
    void theRefusalIsResourceExhaustedNamingTheSettingAndRetryAfterIsWholeSeconds() {
        DoorAdmission admission = new DoorAdmission(1, "router.max-in-flight", Duration.ofMillis(1500));
        Status refusal = admission.refusal();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, refusal.getCode());
        assertTrue(refusal.getDescription().contains("router.max-in-flight"), refusal.getDescription());
        assertEquals(2, admission.retryAfterSeconds());
        assertTrue(DoorAdmission.isOverload(refusal));
        assertFalse(DoorAdmission.isOverload(Status.UNAVAILABLE), "a dead service is no reason to come back later");
    }
}
