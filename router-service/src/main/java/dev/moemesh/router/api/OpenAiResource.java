package dev.moemesh.router.api;

import dev.moemesh.client.AttentionCall;
import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.router.ApiKeys;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.QuotaRefusal;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;
import io.grpc.Status;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.BackPressureStrategy;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import jakarta.inject.Inject;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.core.MediaType;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.parameters.RequestBody;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.jboss.resteasy.reactive.RestMulti;

import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.Executor;

/**
 * OpenAI's generation endpoints on the mesh, {@code POST /v1/completions} and {@code POST /v1/chat/completions}
 * ({@link ModelsResource} lists the model); {@link DoorGuard} checks the API key, {@link OpenAiErrors} answers every
 * error in OpenAI's shape.
 */
@Path("/v1")
@APIResponse(responseCode = "200", ref = "Answer")
@APIResponse(responseCode = "400", ref = "BadRequest")
@APIResponse(responseCode = "401", ref = "Unauthorized")
@APIResponse(responseCode = "404", ref = "NoSuchModel")
@APIResponse(responseCode = "413", ref = "TooLarge")
@APIResponse(responseCode = "429", ref = "Overloaded")
@APIResponse(responseCode = "503", ref = "Unavailable")
public class OpenAiResource {
    /** Items the response takes without waiting for earlier writes: tokens go out as they come. */
    private static final long STREAM_DEMAND = 1024;

    private final Prompts prompts;
    private final RequestParser parser;
    private final AttentionPool pool;
    private final DoorMeters meters;
    private final DoorAdmission admission;
    private final ApiKeys apiKeys;

    @Inject
    public OpenAiResource(Prompts prompts, AttentionPool pool, DoorMeters meters, DoorAdmission admission,
                          ApiKeys apiKeys) {
        this.prompts = prompts;
        this.parser = new RequestParser(prompts);
        this.pool = pool;
        this.meters = meters;
        this.admission = admission;
        this.apiKeys = apiKeys;
    }

    @POST
    @Path("/completions")
    @Operation(summary = "Completes a prompt (text or token ids)", description = "One JSON answer, or with stream"
            + " true Server-Sent Events: a chunk per token, each choice's last with its finish_reason, then data: [DONE]")
    @RequestBody(required = true, content = @Content(mediaType = MediaType.APPLICATION_JSON,
            schema = @Schema(ref = "CompletionRequest")))
    public RestMulti<String> completions(String body, @HeaderParam("authorization") String authorization) {
        return generate(body, false, authorization);
    }

    @POST
    @Path("/chat/completions")
    @Operation(summary = "Answers chat messages, rendered by the checkpoint's chat template", description = "As"
            + " /v1/completions; streamed, each choice's first chunk carries the role")
    @RequestBody(required = true, content = @Content(mediaType = MediaType.APPLICATION_JSON,
            schema = @Schema(ref = "ChatCompletionRequest")))
    public RestMulti<String> chatCompletions(String body, @HeaderParam("authorization") String authorization) {
        return generate(body, true, authorization);
    }

    /**
     * The answer's body as a stream of items: one JSON body, or Server-Sent Events, by the request's {@code stream}.
     * Quarkus REST picks its SSE writer by {@code @Produces} when it builds the application, so this one endpoint sets
     * its content type per request ({@link RestMulti}) and frames the events itself, {@code data: <json>} as OpenAI
     * writes them (Quarkus writes {@code data:<json>}).
     */
    private RestMulti<String> generate(String body, boolean chat, String authorization) {
        KeyQuota key = apiKeys.quotaOf(authorization); // DoorGuard admitted it
        key.checkSize(body.getBytes(StandardCharsets.UTF_8).length, "rest"); // a chunked body declared no length
        OpenAiRequest r = parser.parse(body, chat, key);
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        GenerationResponder[] responder = new GenerationResponder[1];
        Multi<String> items = Multi.createFrom().<String>emitter(emitter -> {
            responder[0] = new GenerationResponder(r, id, prompts.modelName(), created, prompts,
                    admission.retryAfterSeconds(), emitter);
            start(r, id, responder[0], key);
        }, BackPressureStrategy.BUFFER).emitOn(onThisRequestsEventLoop()).onCancellation()
                .invoke(() -> responder[0].clientLeft());
        // a demand of one would have each token wait for the write of the one before to complete on the event loop
        return RestMulti.fromMultiData(items).withDemand(STREAM_DEMAND).status(200)
                .header("content-type", r.stream() ? "text/event-stream" : MediaType.APPLICATION_JSON)
                .header("cache-control", "no-cache").build();
    }

    /**
     * The tokens come on gRPC threads; the response is written on its event loop: one hop there per item, and the
     * write and its completion run on the loop, rather than a write queued to the loop whose completion comes back.
     */
    private static Executor onThisRequestsEventLoop() {
        Context loop = Vertx.currentContext();
        return task -> loop.runOnContext(v -> task.run());
    }

    /** Admits each choice's generation within the key's concurrency and the door's bound, or none (429), and starts them. */
    private void start(OpenAiRequest r, String id, GenerationResponder responder, KeyQuota key) {
        try {
            key.take(r.n(), "rest");
        } catch (QuotaRefusal e) {
            responder.refused(OpenAiError.of(e));
            return;
        }
        GenerationListener[] admitted = new GenerationListener[r.n()];
        for (int i = 0; i < admitted.length; i++) {
            admitted[i] = admission.admit(key.holding(responder.listener(i)));
            if (admitted[i] == null) {
                String why = admission.refusal().getDescription();
                responder.refused(OpenAiError.overloaded(why, admission.retryAfterSeconds()));
                key.giveBack(r.n() - i); // the places of the choices not admitted
                for (int j = 0; j < i; j++) admitted[j].failed(Status.CANCELLED, why); // their places back, unheard
                return;
            }
        }
        for (int i = 0; i < admitted.length; i++) {
            String choiceId = r.n() == 1 ? id : id + "-" + i;
            DoorMeters.Observed observed = meters.observe("rest", admitted[i]);
            responder.started(i, AttentionCall.start(pool, GenerationWire.request(choiceId, r.promptIds(), r.sampling(i)),
                    observed), observed);
        }
    }
}
