package dev.moemesh.attention.api;

import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** Checks a {@code GenerateRequest} and turns it into the engine's request; refusals name the field. */
final class GenerateRequests {
    private GenerateRequests() {}

    static GenerationRequest toEngine(GenerateRequest r, String fingerprint) {
        if (r.getRequestId().isBlank()) throw invalid("request_id is empty; give each generation a unique id");
        if (!r.getModelFingerprint().isEmpty() && !r.getModelFingerprint().equals(fingerprint)) {
            throw Status.FAILED_PRECONDITION.withDescription("request " + r.getRequestId() + ": model_fingerprint '"
                    + r.getModelFingerprint() + "' is not this service's model '" + fingerprint + "'").asRuntimeException();
        }
        if (r.getPromptTokenIdsCount() == 0) throw invalid("request " + r.getRequestId() + ": prompt_token_ids is empty");
        if (!r.hasSampling()) throw invalid("request " + r.getRequestId() + ": sampling is missing (max_tokens at least)");
        int[] prompt = new int[r.getPromptTokenIdsCount()];
        for (int i = 0; i < prompt.length; i++) prompt[i] = r.getPromptTokenIds(i);
        try {
            return new GenerationRequest(r.getRequestId(), prompt, GenerationWire.sampling(r.getSampling()));
        } catch (IllegalArgumentException e) {
            throw invalid("request " + r.getRequestId() + ": sampling." + e.getMessage());
        }
    }

    private static StatusRuntimeException invalid(String why) {
        return Status.INVALID_ARGUMENT.withDescription(why).asRuntimeException();
    }
}
