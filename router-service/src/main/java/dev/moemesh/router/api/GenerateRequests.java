package dev.moemesh.router.api;

import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.proto.GenerateRequest;

/**
 * The attention service's {@code GenerateRequest} of a validated request: core's sampling parameters become the
 * wire's (the two {@code SamplingParams} share a name, so the wire's is written out).
 */
final class GenerateRequests {
    private GenerateRequests() {}

    static GenerateRequest of(String id, int[] promptIds, SamplingParams s) {
        dev.moemesh.proto.SamplingParams.Builder sampling = dev.moemesh.proto.SamplingParams.newBuilder()
                .setMaxTokens(s.maxTokens()).setTemperature(s.temperature()).setTopK(s.topK()).setTopP(s.topP())
                .setSeed(s.seed()).setIgnoreEos(s.ignoreEos());
        for (int stop : s.stopIds()) sampling.addStopTokenIds(stop);
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(id).setSampling(sampling);
        for (int t : promptIds) request.addPromptTokenIds(t);
        return request.build();
    }
}
