package dev.moemesh.wire;

import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.Finish;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.SamplingParamsOrBuilder;

import java.util.Locale;

/**
 * A generation on the wire in core's terms, both ways: the {@code GenerateRequest} of core's sampling parameters,
 * the sampling parameters a request carries, a token's log-probabilities, and the finish reason of a
 * {@code Completion} or {@code InferenceResponse}.
 */
public final class GenerationWire {
    private GenerationWire() {}

    /** The attention service's request for a generation of {@code promptIds} (no model fingerprint). */
    public static GenerateRequest request(String id, int[] promptIds, SamplingParams s) {
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(id);
        request.getSamplingBuilder().setMaxTokens(s.maxTokens()).setTemperature(s.temperature()).setTopK(s.topK())
                .setTopP(s.topP()).setSeed(s.seed()).setIgnoreEos(s.ignoreEos())
                .setLogprobs(s.wantsLogprobs()).setTopLogprobs(Math.max(0, s.logprobs()));
        for (int stop : s.stopIds()) request.getSamplingBuilder().addStopTokenIds(stop);
        for (int t : promptIds) request.addPromptTokenIds(t);
        return request.build();
    }

    /**
     * Core's sampling parameters of a request's {@code sampling}; the wire's top_p 0 (unset) means no nucleus cut,
     * as core's 1 does, and logprobs with top_logprobs k is core's logprobs k.
     *
     * @throws IllegalArgumentException naming the value core refuses ({@code temperature must be ...})
     */
    public static SamplingParams sampling(SamplingParamsOrBuilder s) {
        int[] stops = new int[s.getStopTokenIdsCount()];
        for (int i = 0; i < stops.length; i++) stops[i] = s.getStopTokenIds(i);
        if (!s.getLogprobs() && s.getTopLogprobs() != 0) {
            throw new IllegalArgumentException("top_logprobs (" + s.getTopLogprobs() + ") needs logprobs: true");
        }
        int logprobs = !s.getLogprobs() ? SamplingParams.NO_LOGPROBS
                : (int) Math.min(s.getTopLogprobs() & 0xffffffffL, Integer.MAX_VALUE);
        return new SamplingParams(s.getMaxTokens(), s.getTemperature(), s.getTopK(), s.getTopP() == 0f ? 1f : s.getTopP(),
                s.getSeed(), stops, s.getIgnoreEos(), logprobs);
    }

    /** A token's log-probabilities as a {@code TokenEvent} carries them. */
    public static dev.moemesh.proto.TokenLogprobs logprobs(TokenLogprobs l) {
        dev.moemesh.proto.TokenLogprobs.Builder wire = dev.moemesh.proto.TokenLogprobs.newBuilder()
                .setLogprob(l.logprob());
        for (int j = 0; j < l.topIds().length; j++) {
            wire.addTopTokenIds(l.topIds()[j]).addTopLogprobs(l.topLogprobs()[j]);
        }
        return wire.build();
    }

    /** Sets both the finish field and, for peers that predate it, the finish_reason string. */
    public static Completion.Builder finished(Completion.Builder c, FinishReason reason) {
        return c.setFinish(toWire(reason)).setFinishReason(reason.wireName());
    }

    /** Sets both the finish field and, for clients that predate it, the finish_reason string. */
    public static InferenceResponse.Builder finished(InferenceResponse.Builder r, FinishReason reason) {
        return r.setFinish(toWire(reason)).setFinishReason(reason.wireName());
    }

    /** Why the generation ended: the finish field, or the finish_reason string of a peer that predates it. */
    public static FinishReason finishReason(Completion c) {
        return finishReason(c.getFinish(), c.getFinishReason());
    }

    /** Why the generation ended: the finish field, or the finish_reason string of a router that predates it. */
    public static FinishReason finishReason(InferenceResponse r) {
        return finishReason(r.getFinish(), r.getFinishReason());
    }

    private static FinishReason finishReason(Finish finish, String name) {
        return switch (finish) {
            case FINISH_STOP -> FinishReason.STOP;
            case FINISH_LENGTH -> FinishReason.LENGTH;
            case FINISH_CANCELLED -> FinishReason.CANCELLED;
            case FINISH_ERROR -> FinishReason.ERROR;
            case FINISH_UNSPECIFIED, UNRECOGNIZED -> {
                try {
                    yield FinishReason.valueOf(name.toUpperCase(Locale.ROOT));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("finish reason '" + name + "' is none of stop, length,"
                            + " cancelled, error", e);
                }
            }
        };
    }

    private static Finish toWire(FinishReason reason) {
        return switch (reason) {
            case STOP -> Finish.FINISH_STOP;
            case LENGTH -> Finish.FINISH_LENGTH;
            case CANCELLED -> Finish.FINISH_CANCELLED;
            case ERROR -> Finish.FINISH_ERROR;
        };
    }
}
