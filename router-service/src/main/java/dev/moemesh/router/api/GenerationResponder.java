package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.client.AttentionCall;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import dev.moemesh.proto.TokenLogprobs;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.smallrye.mutiny.subscription.MultiEmitter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Answers one HTTP request from the generations of its choices, as the items of the response body: one JSON body
 * once every choice has ended, or (streaming) Server-Sent Events from the first token on. Nothing is written before
 * the first item, so a failure before it fails the stream and gets its own HTTP status and OpenAI error.
 */
final class GenerationResponder {
    private final OpenAiRequest request;
    private final String id;
    private final String model;
    private final long created;
    private final Prompts prompts;
    private final long retryAfterSeconds;
    private final MultiEmitter<? super String> body;
    private final Choice[] choices;
    private int open;           // choices not yet ended
    private boolean streaming;  // an event was sent: the status is written
    private boolean ended;      // the body ended, failed, or its client left

    /**
     * One choice: its generation, its tokens so far, its text as the client sees it, their logprobs (null unless
     * asked for), and how it ended.
     */
    private static final class Choice {
        final ChoiceText text;
        final ChoiceLogprobs logprobs;
        AttentionCall call;
        DoorMeters.Observed meters;
        int[] ids = new int[16];
        int count;
        boolean roleSent;
        String finishReason; // null while it runs

        Choice(ChoiceText text, ChoiceLogprobs logprobs) {
            this.text = text;
            this.logprobs = logprobs;
        }
    }

    GenerationResponder(OpenAiRequest request, String id, String model, long created, Prompts prompts,
                        long retryAfterSeconds, MultiEmitter<? super String> body) {
        this.request = request;
        this.id = id;
        this.model = model;
        this.created = created;
        this.prompts = prompts;
        this.retryAfterSeconds = retryAfterSeconds;
        this.body = body;
        this.choices = new Choice[request.n()];
        for (int i = 0; i < choices.length; i++) {
            choices[i] = new Choice(new ChoiceText(prompts.textDeltas(), request.stops()),
                    request.sampling().wantsLogprobs() ? new ChoiceLogprobs(request.chat(), prompts) : null);
        }
        this.open = choices.length;
    }

    /** What becomes of choice {@code index}'s generation, told to this responder. */
    GenerationListener listener(int index) {
        return new GenerationListener() {

            @Override
            public void token(TokenEvent t) {
                GenerationResponder.this.token(index, t.getTokenId(), t.hasLogprobs() ? t.getLogprobs() : null);
            }

            @Override
            public void completed(Completion c, String attentionService) {
                GenerationResponder.this.completed(index, c);
            }

            @Override
            public void failed(Status status, String message) {
                GenerationResponder.this.failed(index, status, message);
            }
        };
    }

    /**
     * Choice {@code index}'s generation runs as {@code call}, its door meters {@code meters}; cancelled at once if the
     * choice or the body ended.
     */
    synchronized void started(int index, AttentionCall call, DoorMeters.Observed meters) {
        choices[index].call = call;
        choices[index].meters = meters;
        if (ended || choices[index].finishReason != null) call.cancel("generation " + id + " needs no more tokens");
    }

    /** The body failed before anything was written (a choice refused, say): the others are not needed. */
    synchronized void refused(OpenAiError e) {
        fail(e);
    }

    /** The HTTP client went away: every generation still running is cancelled. */
    synchronized void clientLeft() {
        ended = true;
        cancelAll("the HTTP client of " + id + " went away");
    }

    /** A token of choice {@code index}, with its logprobs when asked for. */
    private synchronized void token(int index, int tokenId, TokenLogprobs logprobs) {
        Choice c = choices[index];
        if (ended || c.finishReason != null) return; // after its stop string: neither sent nor counted
        if (c.logprobs != null && logprobs == null) {
            fail(OpenAiError.unavailable("logprobs_unavailable", "generation " + id + ": attention service "
                    + (c.call == null ? "" : c.call.attentionService())
                    + " sent a token without the logprobs asked for (a service that predates them?)"));
            return;
        }
        if (c.count == c.ids.length) c.ids = Arrays.copyOf(c.ids, c.count * 2);
        c.ids[c.count++] = tokenId;
        int offset = c.text.length();
        String delta = c.text.add(tokenId);
        if (c.logprobs != null) c.logprobs.add(tokenId, logprobs, offset);
        if (request.stream()) send(index, OpenAiResponses.chunk(id, request.chat(), model, created, index, delta,
                new int[] {tokenId}, c.logprobs == null ? null : c.logprobs.tell(c.text.shown()), null,
                request.includeUsage()));
        if (c.text.stopped()) {
            if (c.meters != null) c.meters.stoppedByDoor(); // counted as stop, not as the cancel that follows
            if (c.call != null) c.call.cancel("generation " + id + " reached a stop string");
            end(index, FinishReason.STOP);
        }
    }

    private synchronized void completed(int index, Completion completion) {
        Choice c = choices[index];
        if (ended || c.finishReason != null) return; // its stop string came with its last token
        FinishReason reason = GenerationWire.finishReason(completion);
        switch (reason) {
            case ERROR -> fail(OpenAiError.unavailable("generation_failed", "generation " + id
                    + " failed in the mesh: " + completion.getErrorMessage()));
            case CANCELLED -> fail(OpenAiError.unavailable("cancelled", "generation " + id
                    + " was cancelled on the attention service"));
            default -> {
                c.ids = completion.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                c.count = c.ids.length;
                end(index, reason);
            }
        }
    }

    private synchronized void failed(int index, Status status, String message) {
        if (ended || choices[index].finishReason != null) return; // the client left, or the stop string cancelled it
        if (status.getCode() == Status.Code.INVALID_ARGUMENT) {
            fail(new OpenAiError(400, "invalid_request_error", null, "rejected_by_mesh", message));
        } else if (DoorAdmission.isOverload(status)) {
            fail(OpenAiError.overloaded(message, retryAfterSeconds));
        } else {
            fail(OpenAiError.unavailable("mesh_unavailable", message));
        }
    }

    private void end(int index, FinishReason reason) {
        Choice c = choices[index];
        c.finishReason = reason.wireName();
        if (request.stream()) {
            // what was held back: the possible start of a stop string, an unfinished character at the end
            String rest = c.text.finish();
            send(index, OpenAiResponses.chunk(id, request.chat(), model, created, index,
                    request.chat() && rest.isEmpty() ? null : rest, new int[0], logprobsRest(c), c.finishReason,
                    request.includeUsage()));
        }
        if (--open > 0) return;
        ended = true;
        int promptTokens = request.promptIds().length;
        int completionTokens = Arrays.stream(choices).mapToInt(x -> x.count).sum();
        if (request.stream()) {
            if (request.includeUsage()) send(-1, OpenAiResponses.usageChunk(id, request.chat(), model, created,
                    promptTokens, completionTokens));
            body.emit("data: [DONE]\n\n");
        } else {
            List<OpenAiResponses.Choice> all = new ArrayList<>();
            for (int i = 0; i < choices.length; i++) {
                Choice x = choices[i];
                int[] ids = Arrays.copyOf(x.ids, x.count);
                all.add(new OpenAiResponses.Choice(i, x.text.stopped() ? x.text.text() : prompts.decode(ids), ids,
                        logprobsRest(x), x.finishReason));
            }
            body.emit(OpenAiResponses.answer(id, request.chat(), model, created, all, promptTokens, completionTokens)
                    .toString());
        }
        body.complete();
    }

    /** The logprobs of a choice that ended not yet told: all but those of tokens a stop string cut off. */
    private static ObjectNode logprobsRest(Choice c) {
        return c.logprobs == null ? null : c.logprobs.rest(c.text.stopped(), c.text.length());
    }

    private void fail(OpenAiError e) {
        if (ended) return;
        ended = true;
        cancelAll("generation " + id + " failed: " + e.getMessage());
        if (streaming) {
            body.emit("data: " + e.body() + "\n\n"); // OpenAI's way mid-stream: an error event, then the stream ends
            body.emit("data: [DONE]\n\n");
            body.complete();
        } else {
            body.fail(e);
        }
    }

    /** Sends an event of choice {@code index} (-1: of none), after that choice's role if it is a chat's first. */
    private void send(int index, ObjectNode event) {
        streaming = true;
        if (index >= 0 && request.chat() && !choices[index].roleSent) {
            choices[index].roleSent = true;
            body.emit("data: " + OpenAiResponses.chatRole(id, model, created, index, request.includeUsage()) + "\n\n");
        }
        body.emit("data: " + event + "\n\n");
    }

    private void cancelAll(String why) {
        for (Choice c : choices) {
            if (c.call != null && c.finishReason == null) c.call.cancel(why);
        }
    }
}
