package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.core.engine.FinishReason;
import dev.moemesh.proto.Completion;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.vertx.core.http.HttpServerResponse;

/**
 * Answers one HTTP request from its generation's events: one JSON body at the end, or (streaming) Server-Sent Events
 * from the first token on. Until the first event nothing is written, so a refusal still gets its own HTTP status.
 */
final class GenerationResponder implements GenerationListener {
    private final HttpServerResponse response;
    private final OpenAiRequest request;
    private final String id;
    private final String model;
    private final long created;
    private final Prompts prompts;
    private final TextDeltas deltas;
    private final long retryAfterSeconds;
    private boolean streaming;

    GenerationResponder(HttpServerResponse response, OpenAiRequest request, String id, String model, long created,
                        Prompts prompts, long retryAfterSeconds) {
        this.response = response;
        this.request = request;
        this.id = id;
        this.model = model;
        this.created = created;
        this.prompts = prompts;
        this.deltas = new TextDeltas(prompts);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    @Override
    public void token(int index, int tokenId) {
        if (!request.stream()) return;
        startStream();
        send(OpenAiResponses.answer(id, request.chat(), true, model, created, deltas.add(tokenId), new int[] {tokenId},
                null));
    }

    @Override
    public void completed(Completion c, String attentionService) {
        FinishReason reason = GenerationWire.finishReason(c);
        switch (reason) {
            case ERROR -> fail(OpenAiError.unavailable("generation_failed", "generation " + id
                    + " failed in the mesh: " + c.getErrorMessage()));
            case CANCELLED -> fail(OpenAiError.unavailable("cancelled", "generation " + id
                    + " was cancelled on the attention service"));
            default -> finish(c, reason);
        }
    }

    @Override
    public void failed(Status status, String message) {
        if (response.closed()) return; // the client went away and cancelled the call
        if (status.getCode() == Status.Code.INVALID_ARGUMENT) {
            fail(new OpenAiError(400, "invalid_request_error", null, "rejected_by_mesh", message));
        } else if (DoorAdmission.isOverload(status)) {
            fail(OpenAiError.overloaded(message, retryAfterSeconds));
        } else {
            fail(OpenAiError.unavailable("mesh_unavailable", message));
        }
    }

    private void finish(Completion c, FinishReason reason) {
        int[] ids = c.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
        if (request.stream()) {
            startStream();
            send(OpenAiResponses.answer(id, request.chat(), true, model, created, request.chat() ? null : "",
                    new int[0], reason.wireName()));
            end();
        } else {
            ObjectNode body = OpenAiResponses.answer(id, request.chat(), false, model, created,
                    prompts.decode(ids), ids, reason.wireName());
            Json.write(response, 200, OpenAiResponses.withUsage(body, c.getPromptTokens(), ids.length));
        }
    }

    private void fail(OpenAiError e) {
        if (response.closed()) return;
        if (streaming) {
            send(e.body()); // OpenAI's way mid-stream: an error event, then the stream ends
            end();
        } else {
            Json.error(response, e);
        }
    }

    private void startStream() {
        if (streaming) return;
        streaming = true;
        response.setStatusCode(200).setChunked(true).putHeader("content-type", "text/event-stream")
                .putHeader("cache-control", "no-cache");
        if (request.chat()) send(OpenAiResponses.chatRole(id, model, created));
    }

    private void send(ObjectNode event) {
        if (!response.closed()) response.write("data: " + event + "\n\n");
    }

    private void end() {
        if (!response.closed()) response.end("data: [DONE]\n\n");
    }
}
